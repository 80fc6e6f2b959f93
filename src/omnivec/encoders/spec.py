"""`EncoderSpec`: a model's recipe as data (templates, pooling, lengths, dims, provenance)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from omnivec.errors import InputError
from omnivec.types import Role

Pooling = Literal["cls", "mean", "last"]
PaddingSide = Literal["left", "right"]


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that decides how an input becomes a vector, plus facts for `omnivec models`.

    Templates are `str.format` strings with `{text}` and, for instructed queries, `{instruction}`.
    `query_template_bare` is used for a query when no instruction applies.
    `instructions` maps task ids (glob patterns allowed, first match wins) to instruction text.
    `options` holds family-specific recipe values (image size, pixel caps, ...).
    """

    name: str
    family: str
    modalities: tuple[str, ...] = ("text",)
    dim: int | None = None
    max_length: int = 512
    pooling: Pooling | None = None
    padding_side: PaddingSide = "right"
    query_template: str = "{text}"
    query_template_bare: str = "{text}"
    document_template: str = "{text}"
    default_instruction: str | None = None
    instructions: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    license: str = "unknown"
    revision: str | None = None
    bundle: str | None = None  # "python_module:attribute" locating bundled weights (folder or file)
    hardware: str = "CPU"
    params: str = ""
    aliases: tuple[str, ...] = ()
    description: str = ""

    @property
    def takes_instruction(self) -> bool:
        return "{instruction}" in self.query_template

    def instruction_for(self, task: str) -> str:
        """The preset instruction for a task id such as `coir:cosqa` (glob keys allowed)."""
        for pattern, text in self.instructions.items():
            if fnmatch.fnmatchcase(task, pattern):
                return text
        known = ", ".join(sorted(self.instructions)) or "none"
        raise InputError(
            received=f"task preset {task!r} for model {self.name}",
            expected=f"one of: {known}",
            fix="pass --instruction TEXT instead, or pick a listed preset",
        )

    def resolve_instruction(self, role: Role, instruction: str | None) -> str | None:
        """The instruction actually used; never silently drops one the caller gave."""
        if role == "document":
            if instruction:
                raise InputError(
                    received="an instruction for role 'document'",
                    expected="instructions on queries only (documents are encoded without one)",
                    fix="drop the instruction, or encode with role='query'",
                )
            return None
        if instruction is None:
            return self.default_instruction if self.takes_instruction else None
        if not self.takes_instruction:
            raise InputError(
                received=f"an instruction for model {self.name}, whose recipe has no instruction slot",
                expected="no instruction for this model",
                fix="drop --instruction, or use an instruction-tuned model such as BAAI/bge-code-v1",
            )
        return instruction

    def render(self, text: str, role: Role, instruction: str | None) -> str:
        """Apply the role's template. `instruction` must come from `resolve_instruction`."""
        if role == "document":
            template = self.document_template
        elif instruction:
            template = self.query_template
        else:
            template = self.query_template_bare
        return template.format(text=text, instruction=instruction or "")

    def recipe(self) -> dict[str, Any]:
        """The fields that change vectors; stored with every index and used in cache keys."""
        d = asdict(self)
        keep = (
            "family", "dim", "max_length", "pooling", "query_template",
            "query_template_bare", "document_template", "default_instruction", "options",
        )  # fmt: skip
        return {k: d[k] for k in keep}

    def recipe_hash(self) -> str:
        blob = json.dumps(self.recipe(), sort_keys=True, default=str).encode()
        return hashlib.blake2b(blob, digest_size=8).hexdigest()
