"""The base class: input validation, roles, presets, ordering, caching and OOM back-off."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.encoders.cache import EmbeddingCache
from omnivec.encoders.registry import get_spec, list_specs, load_encoder
from omnivec.errors import InputError, OmnivecError, UnknownModelError
from tests.encoders.contract import check_contract


@pytest.fixture
def fake():
    return load_encoder("omnivec/fake")


def test_fake_contract(fake):
    check_contract(fake, ["alpha beta", "gamma", "delta epsilon zeta " * 20])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([""], "empty text"), (["  "], "empty text"), ([None], "NoneType"), ([b"\xff\xfe"], "not valid UTF-8"),
        # a bare string would otherwise be iterated: one vector per character
        ("hello", "a single str .*wrap it in a list"), (b"hello", "a single bytes"), ([7], "convert each input"),
    ],
)  # fmt: skip
def test_bad_inputs_are_clear_errors(fake, bad, match):
    with pytest.raises(InputError, match=match):
        fake.encode(bad)


def test_utf8_bytes_are_accepted(fake):
    np.testing.assert_allclose(fake.encode([b"caf\xc3\xa9"]), fake.encode(["café"]))


def test_wrong_role(fake):
    with pytest.raises(InputError, match="role 'passage'"):
        fake.encode(["x"], role="passage")


def test_instruction_on_documents_is_refused(fake):
    with pytest.raises(InputError, match="role 'document'"):
        fake.encode(["x"], role="document", instruction="do this")


def test_unknown_model_suggests(fake):
    with pytest.raises(UnknownModelError, match="did you mean 'minilm'"):
        get_spec("minlm")


def test_unknown_task_preset(fake):
    with pytest.raises(InputError, match="task preset 'coir:nope'"):
        fake.encode(["x"], role="query", task="coir:nope")


def test_instruction_and_task_together(fake):
    with pytest.raises(OmnivecError, match="both"):
        fake.encode(["x"], role="query", task="t", instruction="i")


def test_registry_lists_offline_default():
    names = {s.name: s for s in list_specs()}
    assert names["sentence-transformers/all-MiniLM-L6-v2"].bundle


def test_cache_skips_known_items(fake, tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    first = fake.embed(["a b", "c d"], cache=cache)
    assert first.cached == 0 and len(cache) == 2
    second = fake.embed(["c d", "a b", "e f"], cache=cache)
    assert second.cached == 2
    np.testing.assert_allclose(second.vectors[:2], first.vectors[::-1])
    # a different role is a different key
    assert fake.embed(["a b"], role="query", cache=cache).cached == 0


def test_oom_backs_off_then_gives_up(fake, monkeypatch):
    calls = []
    real = fake.forward

    def flaky(batch):
        calls.append(len(batch))
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate")
        return real(batch)

    monkeypatch.setattr(fake, "forward", flaky)
    out = fake.encode([f"w{i}" for i in range(8)], batch_tokens=64)
    assert out.shape == (8, 32) and max(calls[-4:]) <= 2

    def always(batch):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(fake, "forward", always)
    with pytest.raises(OmnivecError, match="out of memory on a batch of 1"):
        fake.encode(["a", "b"], batch_tokens=64)


def test_non_oom_errors_propagate(fake, monkeypatch):
    def boom(batch):
        raise ValueError("real bug")

    monkeypatch.setattr(fake, "forward", boom)
    with pytest.raises(ValueError, match="real bug"):
        fake.encode(["a"])


@pytest.mark.parametrize(
    "kw", [{"max_length": 0}, {"max_length": -3}, {"max_length": 1}, {"threads": 0}, {"threads": "2"}]
)
def test_bad_load_options_are_refused_before_loading(kw):
    with pytest.raises(InputError):
        load_encoder("omnivec/fake", **kw)


def test_a_bad_thread_count_in_the_environment_is_refused(monkeypatch):
    from omnivec.config import default_threads

    for value in ("abc", "0", "-2"):
        monkeypatch.setenv("OMNIVEC_THREADS", value)
        with pytest.raises(InputError, match="OMNIVEC_THREADS"):
            default_threads()
    monkeypatch.setenv("OMNIVEC_THREADS", "3")
    assert default_threads() == 3
