"""ONNX Runtime backends for the transformers text families (BERT-like and decoder).

`load_encoder(name, backend="onnx" | "onnx-int8")` loads the torch model as usual, then swaps its
`collate` / `forward` for an ONNX Runtime session over an export of the same weights. The base
class still owns batching (token budget, length sorting, order, normalisation); this module only
runs one padded batch and pools it, in numpy.

Export. `torch.onnx.export` (the TorchScript exporter) of the transformers model returning its
last hidden state, positions computed inside the graph from the attention mask exactly as the torch
path does (so left padding works); the attention module is switched to the eager implementation
while tracing (its graph is what ONNX Runtime's fusions recognise). BERT-like graphs then go
through ONNX Runtime's transformer optimizer (fused attention, skip-layer-norm, bias-GELU; raw 2-D
mask, so either padding side works); `onnx-int8` is dynamic int8 quantisation of the weights
(`onnxruntime.quantization.quantize_dynamic`). optimum's exporter is not used: its ONNX package
requires transformers < 4.58.

Cache. Exports live in `cache_dir()/onnx/<name>/`, keyed by the weights fingerprint, model type,
position scheme, backend, opset and the torch / onnxruntime versions. A build happens in a
temporary folder under a lock and is renamed into place; its manifest (`<name>.json`, written last,
atomically) records each file's size, modification time and hash. An export without a manifest,
or whose files do not match it (half-written, truncated, corrupted: a file written since the build
is hashed again), is never used: it is rebuilt.

Identity. The backend is part of the recipe (`spec.options["backend"]`), hence of the fingerprint,
so a store built with one backend refuses another's queries. One exception, checked at every load:
`onnx` (fp32) runs a probe set through both torch and ONNX Runtime; when every probe vector agrees
within `COMPATIBLE_ATOL` (max abs difference of the normalised vectors) the encoder declares the
torch identity compatible (`Encoder.identities()`), and `check_query_any` accepts it for a torch
store. `onnx-int8` is never declared compatible, whatever the probe says.

Threads: the `threads` load option, else `omnivec.config.model_threads()` (`OMP_NUM_THREADS`,
the setting torch reads). sessions use them inside each operator. One inter-op thread, sequential execution and no
spin-waiting (spinning threads fight on a busy machine, as OpenMP's do: see `omnivec.runtime`).

Batch dependence of int8. Dynamic quantisation scales each activation tensor by its range over the
whole tensor, so in a padded batch an int8 vector moves with its companions and padding (MiniLM:
cosine down to 0.969 between alone and batched). The int8 runtime therefore runs the items of a
batch one by one, unpadded: vectors equal the item alone, exactly, and on MiniLM this was 1.19x
faster than batched (no padding work). fp32 runs whole batches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from omnivec.encoders.base import Prepared
from omnivec.encoders.spec import PaddingSide, Pooling
from omnivec.errors import InputError, require

if TYPE_CHECKING:
    from omnivec.encoders._hf import TextModelEncoder

log = logging.getLogger(__name__)

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = get_args(Backend)
OPSET = 17
#: bump when the exported graph changes, so old exports are not reused
EXPORT_FORMAT = 4
#: `onnx` (fp32) vectors within this max abs difference of torch's are declared interchangeable
COMPATIBLE_ATOL = 1e-4
#: graphs ONNX Runtime's BERT optimizer fuses; other model types get its generic optimisations only
FUSED_TYPES = ("bert", "roberta", "xlm-roberta")
#: ONNX protobuf files must stay under 2 GB; larger models keep their weights beside the graph
EXTERNAL_DATA_BYTES = 1 << 30
PROBE = (
    "def add(a, b): return a + b",
    "SELECT name FROM users WHERE id = 1;",
    "parse a config file",
    "x",
    "Retry a request with exponential backoff and jitter, giving up after five attempts. " * 4,
)


def ort_module() -> Any:
    return require("onnxruntime", "onnx", "the ONNX Runtime backend")


def check_backend(backend: str) -> Backend:
    if backend not in BACKENDS:
        raise InputError(
            received=f"backend {backend!r}",
            expected=" or ".join(BACKENDS),
            fix="pick one of them (onnx and onnx-int8 need `pip install 'omnivec[onnx]'`)",
        )
    return backend  # type: ignore[return-value]


@dataclass(frozen=True)
class BackendCheck:
    """What the probe at load measured against the torch path."""

    backend: Backend
    max_abs_diff: float
    min_cosine: float
    compatible: bool  # vectors interchangeable with torch's (fp32 within COMPATIBLE_ATOL only)
    exported: bool  # this load built the export (False: reused from the cache)
    path: Path


# --- the exported graph ------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportKey:
    weights: str
    model_type: str
    explicit_positions: bool
    backend: Backend
    opset: int = OPSET

    def name(self) -> str:
        versions = {p: _version(p) for p in ("torch", "onnxruntime", "onnx")}
        blob = json.dumps({**asdict(self), "format": EXPORT_FORMAT, **versions}, sort_keys=True)
        digest = hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()
        return f"{self.model_type}-{self.backend}-op{self.opset}-{digest}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def export_graph(encoder: TextModelEncoder, dst: Path, opset: int = OPSET) -> None:
    """Trace the encoder's torch model into `dst`: (input_ids, attention_mask) -> last hidden state."""
    import torch

    model, explicit, extra = encoder.model, encoder.explicit_positions, encoder._model_kwargs

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            kw = dict(extra)
            if explicit:  # as TextModelEncoder.forward: positions count real tokens only
                kw["position_ids"] = (attention_mask.cumsum(1) - 1).clamp(min=0)
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state

    ids = (torch.arange(16).reshape(2, 8) + 5) % model.config.vocab_size
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    axes = {0: "batch", 1: "sequence"}
    with _eager_attention(model), torch.inference_mode():
        torch.onnx.export(
            HiddenStates().eval(), (ids, mask), str(dst), dynamo=False, opset_version=opset,
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
        )  # fmt: skip


@contextlib.contextmanager
def _eager_attention(model: Any) -> Iterator[None]:
    before = getattr(model.config, "_attn_implementation", None)
    switch = before not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if switch:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(before)


def optimise(src: Path, dst: Path, config: Any) -> Path:
    """ONNX Runtime's transformer fusions for BERT-like graphs; other graphs are left as they are
    (the session applies the generic optimisations when it loads them)."""
    if config.model_type not in FUSED_TYPES:
        return src
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.use_raw_attention_mask(True)  # the default (mask -> lengths) assumes right padding
    model = optimize_model(
        str(src), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size,
        optimization_options=options, opt_level=0,
    )  # fmt: skip
    log.info("ONNX fusions: %s", model.get_fused_operator_statistics())
    model.save_model_to_file(str(dst))
    return dst


def quantise(src: Path, dst: Path, layers: int) -> None:
    """Dynamic int8: int8 weights per output channel, activations quantised per tensor at run time.

    Only the matrix products are quantised, and not all of them: `fp32_nodes` keeps the few whose
    per-tensor activation range hurts most in fp32. Measured on MiniLM (403 dev texts, cosine to
    torch, min / mean): per-tensor weights 0.891 / 0.941, per-channel 0.981 / 0.992, per-channel
    with the nodes below in fp32 0.995 / 0.997 (the one-token text "x": 0.988) at about 5% more
    CPU time; quantising the embedding tables too (the default op list includes Gather) costs
    more accuracy for no speed.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
        op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=fp32_nodes(src, layers),
        use_external_data_format=src.stat().st_size > EXTERNAL_DATA_BYTES,
        # fused contrib ops have no ONNX shape inference: their outputs are float
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )  # fmt: skip


def fp32_nodes(src: Path, layers: int) -> list[str]:
    """The matrix products int8 leaves in fp32 in BERT-like graphs (names from the exporter).

    One node quantised at a time on MiniLM (mean / max of 1 - cosine over its 60 worst dev texts):
    the attention output projection of the first layer (0.0028 / 0.0064) and of the last (0.0011 /
    0.0089), and the FFN down-projections of the first three layers (0.0016 / 0.0029, 0.0008 /
    0.0013, 0.0011 / 0.0018) stand out; every other node is below 0.0005 mean. The attention
    outputs are the smallest products of a layer (384 x 384 of its 1.8M multiply-adds per token).
    Graphs with other names (decoders) are quantised whole.
    """
    import onnx

    graph = onnx.load(str(src), load_external_data=False).graph
    keep = {f"layer.{i}/attention/output/dense/MatMul" for i in (0, layers - 1)}
    keep |= {f"layer.{i}/output/dense/MatMul" for i in range(max(1, layers // 2))}
    return [n.name for n in graph.node if n.op_type == "MatMul" and any(n.name.endswith(k) for k in keep)]


def build_export(encoder: TextModelEncoder, key: ExportKey, out: Path) -> Path:
    """Export, optimise and (for int8) quantise into the empty folder `out`; returns the model."""
    start = time.perf_counter()
    model = out / "model.onnx"
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".work-") as work:
        raw = Path(work) / "raw.onnx"
        export_graph(encoder, raw, key.opset)
        src = optimise(raw, Path(work) / "fused.onnx", encoder.config)
        if key.backend == "onnx-int8":
            quantise(src, model, int(getattr(encoder.config, "num_hidden_layers", 0) or 0))
        elif src.stat().st_size > EXTERNAL_DATA_BYTES or any(Path(work).glob("*.data")):
            import onnx

            onnx.save_model(onnx.load(str(src)), str(model), save_as_external_data=True)
        else:
            os.replace(src, model)
    log.warning("exported %s for the %s backend in %.1fs", encoder.spec.name, key.backend,
                time.perf_counter() - start)  # fmt: skip
    return model


# --- the export cache ----------------------------------------------------------------------------
def file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_export(root: Path, name: str) -> Path | None:
    """The model file of a complete, undamaged export, else None."""
    try:
        meta = json.loads((root / f"{name}.json").read_text())
        files, model = meta["files"], meta["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    folder = root / name
    for fname, want in files.items():
        if not _intact(folder / fname, want):
            log.warning("cached ONNX export %s is incomplete or damaged (%s): rebuilding it", folder, fname)
            return None
    return folder / model if model in files else None


def _record(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "blake2b": file_digest(path)}


def _intact(path: Path, want: dict[str, Any]) -> bool:
    """Size and hash as recorded. A file untouched since the build (same size and modification
    time to the nanosecond) skips the hash, which costs about 0.1 s per 50 MB; any write since
    changes the time, so a damaged file is hashed, and refused."""
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_size != want["size"]:
        return False
    return st.st_mtime_ns == want.get("mtime_ns") or file_digest(path) == want["blake2b"]


def store_export(root: Path, name: str, build: Any, rebuild: bool = False) -> Path:
    """Run `build(folder) -> model path` in a temporary folder; move it into place, manifest last.

    A lock serialises builders; the one that waited finds the export done and reuses it.
    `rebuild` replaces an intact export too (one whose manifest lacks the probe).
    """
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{name}.lock"):
        found = cached_export(root, name)
        if found is not None and not (rebuild and cached_probe(root, name) is None):
            return found
        for stale in root.glob(f".{name}.*"):  # left by a builder that was killed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            model = build(tmp)
            # renaming the folder keeps its files' modification times
            files = {f.name: _record(f) for f in tmp.iterdir()}
            (root / f"{name}.json").unlink(missing_ok=True)  # never a manifest over other files
            shutil.rmtree(root / name, ignore_errors=True)
            os.replace(tmp, root / name)
            manifest = {"model": model.name, "files": files, "created": time.time()}
            _write_atomic(root / f"{name}.json", json.dumps(manifest, indent=1))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root / name / model.name


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: builders may race, and each still renames a complete export
        yield
        return
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- running it -------------------------------------------------------------------------------------
class OnnxRuntime:
    """An ONNX Runtime session over an exported text model: numpy collate, run, pool."""

    def __init__(self, path: Path, threads: int, pad_id: int, per_row: bool = False) -> None:
        """`per_row` runs each item of a batch alone, unpadded: int8 graphs quantise activations
        per tensor, so in a batch an item's vector would depend on its companions and padding
        (measured on MiniLM: cosine down to 0.969 between alone and batched)."""
        ort = ort_module()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.path, self.threads, self.pad_id, self.per_row = path, threads, pad_id, per_row

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> dict[str, np.ndarray]:
        length = max(len(p.data) for p in prepared)
        ids = np.full((len(prepared), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(prepared), length), dtype=np.int64)
        for row, p in enumerate(prepared):
            n = len(p.data)
            cols = slice(0, n) if padding_side == "right" else slice(length - n, length)
            ids[row, cols] = p.data
            mask[row, cols] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def forward(self, batch: dict[str, np.ndarray], pooling: Pooling) -> np.ndarray:
        if not self.per_row:
            hidden = self.session.run(["last_hidden_state"], batch)[0]
            return pool_numpy(hidden, batch["attention_mask"], pooling)
        # rows run one after another: running them side by side on a thread pool (one thread
        # each) was faster but gave wrong vectors now and then with several callers at once
        return np.stack(
            [self._row(ids, mask, pooling) for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]
        )

    def _row(self, ids: np.ndarray, mask: np.ndarray, pooling: Pooling) -> np.ndarray:
        real = {"input_ids": ids[mask == 1][None], "attention_mask": mask[mask == 1][None]}
        hidden = self.session.run(["last_hidden_state"], real)[0]
        return pool_numpy(hidden, real["attention_mask"], pooling)[0]


def pool_numpy(hidden: np.ndarray, mask: np.ndarray, mode: Pooling) -> np.ndarray:
    """`_hf.pool` in numpy: CLS (first real token), masked mean, or last real token."""
    rows = np.arange(hidden.shape[0])
    if mode == "cls":
        return hidden[rows, mask.argmax(axis=1)]
    if mode == "mean":
        m = mask[..., None].astype(hidden.dtype)
        return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    positions = np.arange(mask.shape[1])[None, :] * mask
    return hidden[rows, positions.argmax(axis=1)]


def export_root() -> Path:
    from omnivec.config import cache_dir

    return cache_dir() / "onnx"


def attach(encoder: TextModelEncoder, backend: Backend, threads: int | None = None) -> BackendCheck:
    """Run `encoder` on ONNX Runtime from now on; returns what the probe against torch measured.

    A build probes the new export against torch and keeps the result in its manifest; a load from
    the cache reuses it (the key holds the weights' fingerprint and the torch / ONNX Runtime
    versions, the manifest each file's hash) and never loads the torch weights.
    """
    from omnivec.config import model_threads

    ort_module()
    key = ExportKey(encoder.weights_id, encoder.config.model_type, encoder.explicit_positions, backend)
    root, name = export_root(), key.name()
    pad_id = encoder.tokenizer.pad_token_id
    pad = 0 if pad_id is None else int(pad_id)
    n_threads = threads or model_threads()
    path, probe = cached_export(root, name), cached_probe(root, name)
    exported = path is None or probe is None
    if path is None or probe is None:
        reference = encoder.embed(list(PROBE)).vectors  # still the torch path
        path = store_export(root, name, lambda out: build_export(encoder, key, out), rebuild=path is not None)
        probe = _probe(encoder, OnnxRuntime(path, n_threads, pad, backend == "onnx-int8"), reference)
        _add_probe(root, name, probe)
    encoder.runtime = OnnxRuntime(path, n_threads, pad, backend == "onnx-int8")
    diff, cosine = probe["max_abs_diff"], probe["min_cosine"]
    check = BackendCheck(backend, diff, cosine, backend == "onnx" and diff <= COMPATIBLE_ATOL, exported, path)
    log.info("%s on %s: probe max abs diff %.2e, min cosine %.6f vs torch; compatible with torch: %s",
             encoder.spec.name, backend, diff, cosine, check.compatible)  # fmt: skip
    if backend == "onnx" and not check.compatible:
        log.warning("%s: onnx vectors differ from torch by %.2e (> %.0e): its stores will not take "
                    "torch queries", encoder.spec.name, diff, COMPATIBLE_ATOL)  # fmt: skip
    encoder.spec = replace(encoder.spec, options={**encoder.spec.options, "backend": backend})
    encoder.model = None  # the session holds the weights now; a decoder's torch copy is gigabytes
    return check


def _probe(encoder: TextModelEncoder, runtime: OnnxRuntime, reference: np.ndarray) -> dict[str, float]:
    """The probe texts through `runtime`, compared with torch's `reference` vectors."""
    before, encoder.runtime = encoder.runtime, runtime
    try:
        vectors = encoder.embed(list(PROBE)).vectors
    finally:
        encoder.runtime = before
    diff = float(np.abs(vectors - reference).max())
    return {"max_abs_diff": diff, "min_cosine": float((vectors * reference).sum(axis=1).min())}


def cached_probe(root: Path, name: str) -> dict[str, float] | None:
    """The probe result a build recorded in its manifest, or None (an export from before probes
    were recorded, or a build interrupted between its manifest and its probe)."""
    try:
        probe = json.loads((root / f"{name}.json").read_text())["probe"]
        return {"max_abs_diff": float(probe["max_abs_diff"]), "min_cosine": float(probe["min_cosine"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _add_probe(root: Path, name: str, probe: dict[str, float]) -> None:
    with _locked(root / f"{name}.lock"):
        manifest = json.loads((root / f"{name}.json").read_text())
        _write_atomic(root / f"{name}.json", json.dumps({**manifest, "probe": probe}, indent=1))
