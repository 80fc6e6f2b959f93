"""The torch encoder families on a CUDA GPU, against the same CPU reference computations as the
contract suite (`tests/encoders/test_contract.py`). Skipped without a GPU: CI has none, so these
run on a GPU machine with `make test-gpu` (results in docs/benchmarks.md).

Two settings per family: float32 on the GPU (TF32 off) must pass the whole contract at 1e-4,
which shows the GPU path computes what the CPU path does; the family's own GPU dtype (float16, or
bfloat16 for the multimodal LLMs) must pass it with every vector at cosine >= 0.99 to the CPU
reference and batch-independent within 1e-2, which is what a user with a GPU gets by default.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from omnivec.encoders.registry import family_class
from tests.encoders.contract import check_contract
from tests.encoders.test_contract import case_for

torch = pytest.importorskip("torch")
#: `cpu` runs the same checks on the CPU: a dry run of this module on a machine without a GPU
DEVICE = os.environ.get("OMNIVEC_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,  # deselected by default (pyproject's addopts); `make test-gpu` selects it
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

FAMILIES = ["bert", "decoder", "clip", "llava_next", "qwen_vl", "efficientnet"]
FP32_ATOL = 1e-4
HALF_ATOL = 1e-2
HALF_MIN_COSINE = 0.99


@pytest.fixture
def exact_fp32() -> Iterator[None]:
    """Float32 products on the GPU (TF32 would round their inputs to 10 bits)."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
            yield
    finally:
        torch.set_float32_matmul_precision(before)


def on_the_device(enc: Any) -> bool:
    device = getattr(enc, "device", None) or enc.net.device  # EfficientNet keeps it on its network
    return str(device).startswith(DEVICE)


@pytest.mark.parametrize("family", FAMILIES)
def test_float32_on_the_gpu_passes_the_contract(family: str, request: Any, exact_fp32: None, monkeypatch):
    monkeypatch.setattr(family_class(family), "gpu_dtype", "float32", raising=False)
    case = case_for(family, request, device=DEVICE)
    assert on_the_device(case.encoder)
    check_contract(case.encoder, case.items, reference=case.reference, atol=FP32_ATOL, **case.options)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_default_gpu_dtype_stays_close_to_the_cpu_reference(family: str, request: Any):
    case = case_for(family, request, device=DEVICE)
    assert on_the_device(case.encoder)
    vectors = check_contract(case.encoder, case.items, atol=HALF_ATOL, **case.options)
    for i, item in enumerate(case.items):
        ref = np.asarray(case.reference(item), dtype=np.float32)
        cosine = float(vectors[i] @ (ref / np.linalg.norm(ref)))
        assert cosine >= HALF_MIN_COSINE, f"{family} item #{i}: cosine {cosine:.5f} to the CPU reference"


@pytest.mark.skipif(DEVICE != "cuda", reason="auto picks torch only where a GPU is visible")
def test_auto_puts_a_bert_model_on_the_gpu(tiny_bert, cold_cache, monkeypatch):
    from omnivec.encoders.registry import load_encoder

    monkeypatch.setenv("OMNIVEC_BACKEND", "auto")
    enc = load_encoder(str(tiny_bert))
    assert "backend" not in enc.spec.options and on_the_device(enc)
    assert not (cold_cache / "onnx").exists()  # nothing was exported
