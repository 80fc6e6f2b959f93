"""The contract every encoder family must pass (`../shared/spec/models.md`, "Invariants every
encoder must pass"). `test_contract.py` runs it over every registered family with a reference
computation; family test modules call `check_contract` for their own cases too.

Checks: normalised float32 output of the right shape; distinct items get distinct vectors; a
vector does not depend on its batch (companions, their lengths, batch size, order) or on the
padding side; it equals a per-item reference computation when one is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from omnivec.encoders.base import Encoder

ATOL = 1e-5


def check_contract(
    enc: Encoder,
    items: Sequence[Any],
    role: str = "document",
    reference: Callable[[Any], np.ndarray] | None = None,
    atol: float = ATOL,
    **kw: Any,
) -> np.ndarray:
    """Assert the invariants on `items` (distinct inputs); returns their vectors."""
    base = enc.encode(items, role=role, **kw)
    assert base.dtype == np.float32
    assert base.shape == (len(items), enc.dim)
    np.testing.assert_allclose(np.linalg.norm(base, axis=1), 1.0, atol=1e-5)
    # an encoder that ignores its input (a constant vector) passes every batch check below
    if len(items) > 1:
        assert not np.allclose(base, base[0], atol=1e-4), f"{enc.spec.name}: every item got the same vector"
    # alone, reversed, tiny budgets (batch of one), both padding sides
    for i, item in enumerate(items):
        np.testing.assert_allclose(enc.encode([item], role=role, **kw)[0], base[i], atol=atol)
    np.testing.assert_allclose(enc.encode(list(items)[::-1], role=role, **kw)[::-1], base, atol=atol)
    np.testing.assert_allclose(enc.encode(items, role=role, batch_tokens=1, **kw), base, atol=atol)
    for side in ("left", "right"):
        np.testing.assert_allclose(enc.encode(items, role=role, padding_side=side, **kw), base, atol=atol)
    if reference is not None:
        for i, item in enumerate(items):
            ref = np.asarray(reference(item), dtype=np.float32)
            ref = ref / np.linalg.norm(ref)
            np.testing.assert_allclose(
                base[i], ref, atol=atol, err_msg=f"{enc.spec.name}: item #{i} vs reference"
            )
    return base
