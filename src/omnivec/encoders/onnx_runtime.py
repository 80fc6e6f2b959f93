"""ONNX Runtime backends for the transformers text families (BERT-like and decoder).

`load_encoder(name, backend="onnx" | "onnx-int8")` loads the torch model as usual, then swaps its
`collate` / `forward` for an ONNX Runtime session over an export of the same weights. The base
class still owns batching (token budget, length sorting, order, normalisation); this module only
runs one padded batch and pools it, in numpy. The export itself is `onnx_export` (graph, fusions,
int8 quantisation), and its cache with manifests and locks is `onnx_cache`.

Identity. The backend is part of the recipe (`spec.options["backend"]`), hence of the fingerprint,
so a store built with one backend refuses another's queries. One exception, checked at every load:
`onnx` (fp32) runs a probe set through both torch and ONNX Runtime; when every probe vector agrees
within `COMPATIBLE_ATOL` (max abs difference of the normalised vectors) the encoder declares the
torch identity compatible (`Encoder.identities()`), and `check_query_any` accepts it for a torch
store. `onnx-int8` is never declared compatible, whatever the probe says.

Threads: the `threads` load option, else `omnivec.config.model_threads()` (`OMP_NUM_THREADS`,
the setting torch reads). fp32 sessions use them inside each operator. int8 runs that many rows at
once instead, each on a one-thread session of its own (`RowSessions`): a row of a few hundred
tokens is too small a job to split inside each product (MiniLM, 400 dev documents, idle machine:
one row on two threads 11.2 s, two rows in flight 8.5 s). Every row gets the same bits whichever
session runs it. One inter-op thread, sequential execution and no spin-waiting (spinning threads
fight on a busy machine, as OpenMP's do: see `omnivec.runtime`).

Batch dependence of int8. Dynamic quantisation scales each activation tensor by its range over the
whole tensor, so in a padded batch an int8 vector moves with its companions and padding (MiniLM:
cosine down to 0.969 between alone and batched). The int8 runtime therefore runs the items of a
batch one by one, unpadded: vectors equal the item alone, exactly, and on MiniLM this was 1.19x
faster than batched (no padding work). fp32 runs whole batches.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from omnivec.encoders.base import Prepared
from omnivec.encoders.onnx_cache import add_probe, cached_export, cached_probe, export_root, store_export
from omnivec.encoders.onnx_export import ExportKey, build_export
from omnivec.encoders.spec import PaddingSide, Pooling
from omnivec.errors import InputError, require

if TYPE_CHECKING:
    from omnivec.encoders._hf import TextModelEncoder

log = logging.getLogger(__name__)

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = get_args(Backend)
#: `onnx` (fp32) vectors within this max abs difference of torch's are declared interchangeable
COMPATIBLE_ATOL = 1e-4
#: int8 rows in flight share one session above this export size (a copy of the weights each below)
OWN_SESSION_BYTES = 512 << 20
OUTPUTS = ["last_hidden_state"]
#: a padded batch (fp32), or each item's ids alone (`OnnxRuntime.per_row`, int8)
Batch = dict[str, np.ndarray] | list[np.ndarray]
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


# --- running it -------------------------------------------------------------------------------------
def new_session(path: Path, threads: int) -> Any:
    ort = ort_module()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class RowSessions:
    """One-thread sessions over one graph, each lent to one row at a time, up to `size` rows in
    flight (on a thread pool of that size, shared by every caller of the runtime).

    The first session is made at once (a search's query needs only it), the others when rows
    first wait for one. Each holds its own copy of the weights, unless the export is larger than
    `OWN_SESSION_BYTES`: then the rows share the first session (`run` is thread-safe; on MiniLM
    that was 1.07x slower than sessions of their own).
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, max(1, size)
        self.first = new_session(path, 1)
        self.shared = self.size > 1 and export_bytes(path) > OWN_SESSION_BYTES
        self.made = 1
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._free.put(self.first)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.size, "omnivec-onnx-row") if self.size > 1 else None

    def run(self, rows: Sequence[np.ndarray], pooling: Pooling) -> list[np.ndarray]:
        """Each row's pooled hidden state, in order; equal bits whichever session ran it."""

        def one(ids: np.ndarray) -> np.ndarray:
            session = self._take()
            try:
                hidden = session.run(OUTPUTS, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
            finally:
                self._free.put(session)
            return pool_row(hidden, pooling)

        if self._pool is None or len(rows) == 1:
            return [one(ids) for ids in rows]
        return list(self._pool.map(one, rows))

    def _take(self) -> Any:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self.made < self.size:
                self.made += 1
                return self.first if self.shared else new_session(self.path, 1)
        return self._free.get()


def export_bytes(path: Path) -> int:
    """The export's size on disk: the graph and any weights kept beside it."""
    return sum(f.stat().st_size for f in path.parent.iterdir() if f.is_file())


class OnnxRuntime:
    """An ONNX Runtime session over an exported text model: numpy collate, run, pool."""

    def __init__(self, path: Path, threads: int, pad_id: int, per_row: bool = False) -> None:
        """`per_row` runs each item of a batch alone, unpadded: int8 graphs quantise activations
        per tensor, so in a batch an item's vector would depend on its companions and padding
        (measured on MiniLM: cosine down to 0.969 between alone and batched). Rows then run
        `threads` at a time, one thread each (`RowSessions`)."""
        self.path, self.threads, self.pad_id, self.per_row = path, threads, pad_id, per_row
        # one or the other: int8 rows go to `rows`, fp32 padded batches to `session`
        self.rows = RowSessions(path, threads) if per_row else None
        self.session = None if per_row else new_session(path, threads)

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Batch:
        """A padded batch; per row, each item's ids alone (`(1, n)`, no padding, no mask to build)."""
        if self.per_row:
            return [np.array(p.data, dtype=np.int64)[None] for p in prepared]
        length = max(len(p.data) for p in prepared)
        ids = np.full((len(prepared), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(prepared), length), dtype=np.int64)
        for row, p in enumerate(prepared):
            n = len(p.data)
            cols = slice(0, n) if padding_side == "right" else slice(length - n, length)
            ids[row, cols] = p.data
            mask[row, cols] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def forward(self, batch: Batch, pooling: Pooling) -> np.ndarray:
        if isinstance(batch, dict):
            assert self.session is not None, "a padded batch comes from a batched collate"
            hidden = self.session.run(OUTPUTS, batch)[0]
            return pool_numpy(hidden, batch["attention_mask"], pooling)
        assert self.rows is not None, "a list of rows comes from a per-row collate"
        rows = self.rows.run(batch, pooling)
        return rows[0][None] if len(rows) == 1 else np.stack(rows)


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


def pool_row(hidden: np.ndarray, mode: Pooling) -> np.ndarray:
    """`pool_numpy` of one unpadded row `(n, dim)`: the same sums in the same order, so equal bits."""
    if mode == "cls":
        return hidden[0]
    if mode == "mean":
        return hidden.sum(axis=0) / np.float32(len(hidden))
    return hidden[-1]


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
        add_probe(root, name, probe)
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
