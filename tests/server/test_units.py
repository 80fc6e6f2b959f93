"""In-process checks of the server's pure parts: settings, Matryoshka dims, store names."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from omnivec.encoders.registry import get_spec
from omnivec.errors import InputError
from omnivec.server.routes.embeddings import _dimensions, _truncate
from omnivec.server.settings import ServerSettings, is_loopback
from omnivec.server.state import store_name


@pytest.mark.parametrize(("host", "ok"), [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                         ("127.0.0.2", True), ("0.0.0.0", False), ("10.0.0.1", False),
                                         ("myhost", False)])  # fmt: skip
def test_loopback(host, ok):
    assert is_loopback(host) is ok


def test_exposed_bind_needs_a_key():
    with pytest.raises(InputError, match="API key"):
        ServerSettings(host="0.0.0.0").check()
    ServerSettings(host="0.0.0.0", api_key="k").check()


def test_matryoshka_dims_from_the_spec():
    spec = get_spec("omnivec/fake")
    with pytest.raises(InputError, match="declares no Matryoshka"):
        _dimensions(spec, 32, 8)
    assert _dimensions(spec, 32, 32) is None
    mrl = replace(spec, options={"matryoshka_dims": (8, 16)})
    assert _dimensions(mrl, 32, 16) == 16
    with pytest.raises(InputError, match=r"one of \[8, 16, 32\]"):
        _dimensions(mrl, 32, 12)
    cut = _truncate(np.random.default_rng(0).standard_normal((3, 32)).astype(np.float32), 8)
    assert cut.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, rtol=1e-5)


def test_store_names(tmp_path):
    assert store_name(tmp_path / "repo" / ".omnivec") == "repo"
    assert store_name(Path(tmp_path / "kb")) == "kb"


def test_a_missing_server_dependency_names_the_extra(monkeypatch):
    import sys

    from omnivec.errors import MissingExtraError
    from omnivec.server.metrics import Metrics

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # what an uninstalled module looks like
    with pytest.raises(MissingExtraError, match=r"omnivec\[server\]"):
        Metrics()


def test_forward_tokens_keep_the_encoders_own_off_cpu():
    from omnivec.encoders.registry import load_encoder
    from omnivec.server.models import forward_tokens

    fake = load_encoder("omnivec/fake")  # no device: its own budget stands
    assert forward_tokens(fake, None) == fake.batch_tokens
    assert forward_tokens(fake, 64) == 64
    with pytest.raises(InputError, match="forward_tokens"):
        ServerSettings(forward_tokens=0).check()
