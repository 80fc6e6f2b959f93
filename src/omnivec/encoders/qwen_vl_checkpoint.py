"""What a Qwen2.5-VL embedding checkpoint says about its own prompt (BGE-VL-Screenshot).

sentence-transformers loads such a checkpoint without model-specific code: the prompts in its
`config_sentence_transformers.json` become a **system** turn (a query gets `prompts["query"]`, a
document the first of `prompts["document" | "passage" | "corpus"]`, an empty prompt no system
turn), the user turn holds `[text, image]`, and the checkpoint's own chat template renders the
messages with the `processing_kwargs["chat_template"]` of its `sentence_bert_config.json`
(`add_generation_prompt` among them). This module reads those files and turns the template into
the spec's `str.format` templates (`{instruction}` the system turn, `{text}` the user content),
then renders probes both ways to prove the two agree before anything is encoded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnivec.errors import ModelUnavailableError
from omnivec.types import Role

VISION_BLOCK = "<|vision_start|><|image_pad|><|vision_end|>"
DOCUMENT_PROMPTS = ("document", "passage", "corpus")  # sentence-transformers' encode_document order
_I, _T = "\x00omnivec-instruction\x00", "\x00omnivec-text\x00"  # slots while a template renders
# probes with the whitespace a template could trim, braces a format string could mangle, and a
# leading word that merges with a space before it in any BPE vocabulary
_PROBE_INSTRUCTION, _PROBE_TEXT = " Probe {instruction}\n", "the probe text {0} <b>\n "


@dataclass(frozen=True)
class CheckpointPrompt:
    """The prompt-deciding files of one checkpoint folder."""

    template: str | None  # the chat template's Jinja source
    template_file: str  # where it came from (for messages only: not part of the recipe)
    prompts: Mapping[str, str] = field(default_factory=dict)
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)  # for apply_chat_template

    @property
    def query_prompt(self) -> str | None:
        return self.prompts.get("query") or None

    @property
    def document_prompt(self) -> str | None:
        for name in DOCUMENT_PROMPTS:
            if name in self.prompts:
                return self.prompts[name] or None
        return None


def read_checkpoint_prompt(path: Path, tokenizer: Any) -> CheckpointPrompt:
    """Read the chat template, the sentence-transformers prompts and chat-template kwargs."""
    template, source = _read_template(path, tokenizer)
    prompts = _json(path / "config_sentence_transformers.json").get("prompts") or {}
    processing = _json(path / "sentence_bert_config.json").get("processing_kwargs") or {}
    kwargs = dict(processing.get("chat_template") or {})
    kwargs.pop("restore_suffix", None)  # a sentence-transformers truncation flag, not a template input
    # without a sentence-transformers config the model card's format holds: the open assistant turn
    kwargs.setdefault("add_generation_prompt", True)
    return CheckpointPrompt(template, source, {str(k): str(v) for k, v in prompts.items()}, kwargs)


def _json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text()) if path.is_file() else {}
    return data if isinstance(data, dict) else {}


def _read_template(path: Path, tokenizer: Any) -> tuple[str | None, str]:
    """Processor files first (what `AutoProcessor` reads), then the tokenizer's."""
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(), jinja.name
    template = _json(path / "chat_template.json").get("chat_template")
    if isinstance(template, str):
        return template, "chat_template.json"
    template = getattr(tokenizer, "chat_template", None)
    return (template, "tokenizer_config.json") if isinstance(template, str) else (None, "absent")


def messages(
    system: str | None, text: str | None, has_image: bool, order: Sequence[str]
) -> list[dict[str, Any]]:
    """Chat messages as sentence-transformers builds them (structured content, system turn first)."""
    parts = {
        "text": {"type": "text", "text": text} if text is not None else None,
        "image": {"type": "image", "image": "probe"} if has_image else None,
    }
    content = [parts[name] for name in order if parts[name] is not None]
    head = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    return [*head, {"role": "user", "content": content}]


def render_template(tokenizer: Any, ckpt: CheckpointPrompt, role: Role, msgs: list[dict[str, Any]]) -> str:
    """The checkpoint's template on `msgs`; `task` is what sentence-transformers passes."""
    try:
        out = tokenizer.apply_chat_template(
            msgs, chat_template=ckpt.template, tokenize=False, task=role, **ckpt.template_kwargs
        )
    except Exception as exc:
        raise ModelUnavailableError(
            received=f"a chat template ({ckpt.template_file}) that cannot render a {role}: {exc}",
            expected="a Qwen-style chat template taking system and user turns with text and image parts",
            fix="fix the checkpoint's chat template, or pass a recipe with prompt_source='recipe'",
        ) from exc
    return str(out)


def derive_templates(tokenizer: Any, ckpt: CheckpointPrompt, order: Sequence[str]) -> dict[str, str]:
    """The spec's three templates as the checkpoint's template renders them."""

    def fmt(role: Role, system: str | None) -> str:
        rendered = render_template(tokenizer, ckpt, role, messages(system, _T, False, order))
        escaped = rendered.replace("{", "{{").replace("}", "}}")
        if escaped.count(_T) != 1 or escaped.count(_I) > 1:
            raise ModelUnavailableError(
                received=f"a chat template ({ckpt.template_file}) that renders the user text "
                f"{escaped.count(_T)} times",
                expected="the user turn's text exactly once",
                fix="fix the checkpoint's chat template",
            )
        return escaped.replace(_I, "{instruction}").replace(_T, "{text}")

    return {
        "query_template": fmt("query", _I),
        "query_template_bare": fmt("query", None),
        "document_template": fmt("document", ckpt.document_prompt),
    }


def probe_cases(ckpt: CheckpointPrompt) -> list[tuple[Role, str | None, str | None]]:
    """(role, system prompt for the template, instruction for the spec) pairs worth probing."""
    doc = ckpt.document_prompt
    return [("query", _PROBE_INSTRUCTION, _PROBE_INSTRUCTION), ("query", None, None), ("document", doc, None)]


def probe_contents() -> list[tuple[str | None, bool]]:
    """(text, has_image) contents: text only, image only, text and image."""
    return [(_PROBE_TEXT, False), (None, True), (_PROBE_TEXT, True)]
