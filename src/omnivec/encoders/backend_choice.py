"""Which runtime a text model gets when none is named: the `auto` backend, and torch stores' queries.

`auto` (the default, `OMNIVEC_BACKEND` or `--backend` change it) runs BERT-family text models on
fp32 ONNX Runtime (`onnx`) when onnxruntime and onnx are installed and the export's probe shows
vectors interchangeable with torch's (within `COMPATIBLE_ATOL`), else on torch. Why fp32 and not
int8: fp32 keeps the vectors (a store built with it takes torch queries and the reverse through the
probe), while int8 changes them, so it stays opt-in. Why ONNX at all: with the export cached, a
one-query search loads neither torch nor transformers (`onnx_cold`: about 1 s instead of 6.6 s to
the first hybrid result), and a query encodes about 3x faster (numbers in docs/benchmarks.md).
Where a CUDA GPU is visible and no device is named, `auto` runs torch on it instead: embedding is
the slow part of indexing, and one GPU runs it orders of magnitude faster than 2 CPU cores
(`cuda_visible` decides without importing torch on machines with no NVIDIA driver).

The choice is made at load, so the recipe (hence the fingerprint a store records) is the resolved
backend from the start: a cached export's recorded probe decides without running anything; without
one, the load exports and probes now (MiniLM: once per model and version, tens of seconds on a busy
2-core machine, cached under the omnivec cache folder). Any failure of that export falls back to
torch. Each resolution logs one line saying which backend and why: INFO when ONNX is picked or the
model is not a candidate, WARNING when a candidate falls back to torch (missing package, failed
export, probe beyond tolerance).

A store built on torch is queried through `load_torch_store_query`: when a compatible fp32 export
of its model is already cached, the query runs on it (cold: no torch), accepted by the store
through `Encoder.identities()`; otherwise on torch. A search never exports: the first search of a
torch store on a machine without the export runs on torch, and says how to build the export.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omnivec.encoders.base import Encoder
from omnivec.encoders.onnx_runtime import BACKENDS, COMPATIBLE_ATOL, ort_module
from omnivec.encoders.spec import EncoderSpec
from omnivec.errors import InputError, MissingExtraError

log = logging.getLogger(__name__)

AUTO = "auto"
CHOICES: tuple[str, ...] = (AUTO, *BACKENDS)
#: families `auto` runs on ONNX: their export is fused and probed (decoders stay opt-in)
AUTO_FAMILIES = ("bert",)
#: what `auto` needs importable to export and run a model
ONNX_MODULES = ("onnxruntime", "onnx")
#: present wherever the NVIDIA kernel driver is loaded (no GPU without it)
NVIDIA_DRIVER = "/proc/driver/nvidia/version"
WARM_HINT = "`echo warm | omnivec embed - --backend onnx --model {name} > /dev/null` builds it once"


def check_choice(backend: str) -> str:
    """A backend a user may name: `auto` or a concrete one."""
    if backend not in CHOICES:
        raise InputError(
            received=f"backend {backend!r}",
            expected=" or ".join(CHOICES),
            fix="pick one of them (auto, the default, picks onnx or torch per model; see the README)",
        )
    return backend


def missing_onnx_module() -> str | None:
    """The first module `auto` needs that is not installed, or None; imports nothing."""
    return next((m for m in ONNX_MODULES if importlib.util.find_spec(m) is None), None)


def load_auto(
    cls: type[Encoder], spec: EncoderSpec, weights: str | Path, kw: dict[str, Any],
    missing: Callable[[], str | None] = missing_onnx_module,
) -> Encoder:  # fmt: skip
    """Load on fp32 ONNX when the model is a candidate and its export matches torch, else on torch.

    `missing` says which needed module is absent (a seam for tests and callers that know better).
    """
    reason, warn = _not_a_candidate(cls, spec, kw, missing)
    if reason is None:
        # a model that does not load fails here as on torch; only the ONNX half may fall back
        enc = cls.load(spec, weights, backend="onnx", **kw)  # type: ignore[attr-defined]
        try:
            diff, built = _probe(enc)
        except Exception as exc:  # any failure of export or probe: torch still runs the model
            reason, warn = f"the ONNX export or its probe failed ({type(exc).__name__}: {exc})", True
        else:
            if diff <= COMPATIBLE_ATOL:
                how = "exported and probed now, cached for later loads" if built else "cached export"
                log.info("%s: backend auto -> onnx: fp32 ONNX Runtime, vectors within %.1e of torch's "
                         "(%s); --backend torch or OMNIVEC_BACKEND=torch keeps torch", spec.name, diff,
                         how)  # fmt: skip
                return enc
            reason, warn = (
                f"its fp32 ONNX vectors differ from torch's by {diff:.1e} (> {COMPATIBLE_ATOL:.0e})",
                True,
            )
    (log.warning if warn else log.info)("%s: backend auto -> torch: %s", spec.name, reason)
    torch_kw = {k: v for k, v in kw.items() if k != "threads"}  # ONNX Runtime's; torch's are process-wide
    return cls.load(spec, weights, **torch_kw)  # type: ignore[attr-defined,no-any-return]


def _not_a_candidate(
    cls: type[Encoder], spec: EncoderSpec, kw: dict[str, Any], missing: Callable[[], str | None]
) -> tuple[str | None, bool]:
    """Why the model runs on torch without trying ONNX, and whether that deserves a warning."""
    if spec.family not in AUTO_FAMILIES or "onnx" not in getattr(cls, "backends", ()):
        return f"auto runs {', '.join(AUTO_FAMILIES)}-family models on ONNX, this is {spec.family}", False
    if kw.get("device") not in (None, "cpu"):
        return f"device {kw['device']} (the ONNX backends run on the CPU)", False
    if kw.get("device") is None and cuda_visible():
        return "a CUDA GPU is visible and torch runs the model there (device='cpu' keeps the CPU)", False
    absent = missing()
    if absent is None:
        try:
            ort_module()  # installed but not importable (a broken wheel) counts as missing
        except MissingExtraError:
            absent = "onnxruntime"
    if absent is not None:
        return f"the Python module '{absent}' is not installed (pip install 'omnivec[onnx]')", True
    return None, False


def cuda_visible() -> bool:
    """Whether torch would put a model on a CUDA GPU. Where no NVIDIA driver is loaded (every CPU
    machine) this answers without importing torch, which the ONNX path exists to avoid."""
    if not Path(NVIDIA_DRIVER).exists() or os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    from omnivec.encoders._hf import torch_module

    return bool(torch_module().cuda.is_available())


def _probe(enc: Encoder) -> tuple[float, bool]:
    """(max abs diff to torch, whether the export was built now): the cached export's recorded
    probe when there is one (nothing runs, the session still opens on first use), else an export
    and probe now."""
    from omnivec.encoders.onnx_cache import cached_export, cached_probe, export_root
    from omnivec.encoders.onnx_export import ExportKey

    key = ExportKey(enc.weights_id, enc.config.model_type, enc.explicit_positions, "onnx")  # type: ignore[attr-defined]
    root, name = export_root(), key.name()
    probe = cached_probe(root, name)
    if probe is not None and cached_export(root, name) is not None:
        return probe["max_abs_diff"], False
    check = enc.backend_check  # type: ignore[attr-defined]
    return float(check.max_abs_diff), bool(check.exported)


def load_torch_store_query(
    cls: type[Encoder], spec: EncoderSpec, weights: str | Path, kw: dict[str, Any]
) -> Encoder:
    """The query encoder of a collection built on torch: the cold fp32 ONNX path when a compatible
    export is cached (no torch import; the store accepts it through `identities()`), else torch.
    Never exports: that is an index run's (or `embed`'s) work, not a search's."""
    if spec.family in AUTO_FAMILIES and kw.get("device") in (None, "cpu") and missing_onnx_module() is None:
        from omnivec.encoders.onnx_cold import compatible_cold_export

        if compatible_cold_export(spec, weights, COMPATIBLE_ATOL):
            log.info("%s: torch store queried on its cached fp32 ONNX export (cold path)", spec.name)
            return cls.load(spec, weights, backend="onnx", **kw)  # type: ignore[attr-defined,no-any-return]
        log.info("%s: torch store queried on torch: no cached fp32 ONNX export matching torch; %s",
                 spec.name, WARM_HINT.format(name=spec.name))  # fmt: skip
    return cls.load(spec, weights, **kw)  # type: ignore[attr-defined,no-any-return]
