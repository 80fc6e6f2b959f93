"""Exporting a transformers text model to ONNX, for the ONNX Runtime backends (`onnx_runtime`).

`torch.onnx.export` (the TorchScript exporter) of the transformers model returning its last hidden
state, positions computed inside the graph from the attention mask exactly as the torch path does
(so left padding works); the attention module is switched to the eager implementation while
tracing (its graph is what ONNX Runtime's fusions recognise). BERT-like graphs then go through ONNX
Runtime's transformer optimizer (fused attention, skip-layer-norm, bias-GELU; raw 2-D mask, so
either padding side works); `onnx-int8` is dynamic int8 quantisation of the weights
(`onnxruntime.quantization.quantize_dynamic`). optimum's exporter is not used: its ONNX package
requires transformers < 4.58.

`ExportKey` names an export for the cache (`onnx_cache`): everything the graph depends on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omnivec.encoders._hf import TextModelEncoder
    from omnivec.encoders.onnx_runtime import Backend

log = logging.getLogger(__name__)

OPSET = 17
#: bump when the exported graph changes, so old exports are not reused
EXPORT_FORMAT = 4
#: graphs ONNX Runtime's BERT optimizer fuses; other model types get its generic optimisations only
FUSED_TYPES = ("bert", "roberta", "xlm-roberta")
#: ONNX protobuf files must stay under 2 GB; larger models keep their weights beside the graph
EXTERNAL_DATA_BYTES = 1 << 30


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
    # the tracer's chatter (TracerWarning: "converting a tensor to a Python boolean ...") is about
    # shapes that `dynamic_axes` covers and the probe at load checks; users see it only with -v
    with _eager_attention(model), torch.inference_mode(), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        torch.onnx.export(
            HiddenStates().eval(), (ids, mask), str(dst), dynamo=False, opset_version=opset,
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
        )  # fmt: skip
    for w in said:
        log.debug("ONNX export: %s: %s", w.category.__name__, w.message)


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
