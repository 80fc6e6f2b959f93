"""Decoder-only text/code embedders: an instruction template on queries, last-token pooling.

One recipe serves BGE-Code-v1, Qwen3-Embedding and similar checkpoints; what differs between
them (templates, end token, lengths) is data in their specs.

End token. These models were trained with a token appended after every input and pool the hidden
state there. On load we ask the tokenizer whether it appends one (`tokenizer("x")`), record the
answer in the recipe (`options["appends_eos"]`, `options["end_token_source"]`), so it lands in
every index's metadata and fingerprint, and log it. A spec may declare the token it expects in
`options["end_token"]` (`"eos"` = the tokenizer's EOS, or a literal token):
- the tokenizer appends it: nothing to do;
- the tokenizer appends nothing: omnivec appends the expected token itself, *explicitly*, with a
  warning at load, and records `end_token_source="omnivec"` (checkpoints whose own tokenizer needs
  `trust_remote_code` to append it load here with the stock tokenizer, which may not);
- the tokenizer appends a different special token: loading fails (appending would double it).
Without a declared expectation the tokenizer decides alone. An EOS is never added or dropped
silently.

Checkpoint code is never executed (no `trust_remote_code`): the stock transformers classes run,
and a warning names any custom code the checkpoint ships.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from omnivec.encoders._hf import (
    TextModelEncoder,
    read_config,
    st_max_length,
    st_pooling,
    tokenize,
    transformers_module,
)
from omnivec.encoders.base import Prepared
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec
from omnivec.errors import InputError, ModelUnavailableError
from omnivec.types import Item, Role

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 2048
#: placeholders of presets the user must fill in before use (see `CODE_INSTRUCTIONS`)
_UNFILLED = ("{src_code_language}", "{tgt_code_language}")


@register_family("decoder")
class DecoderEncoder(TextModelEncoder):
    model_types = ("qwen2", "qwen3", "mistral", "llama", "gemma", "gemma2")
    # 16K tokens = 8 items of 2048: for a 1.5B model in fp16 the MLP activations stay near 1 GB
    # on a GPU; on a CPU larger batches only add padding work without speeding anything up.
    batch_tokens = 16384
    max_batch_size = 128
    default_pooling = "last"

    def __init__(self, spec: EncoderSpec, path: Path, fingerprint: str, device: str | None = None) -> None:
        super().__init__(spec, path, fingerprint, device)
        tf = transformers_module()
        _warn_custom_code(path)
        self.tokenizer = tf.AutoTokenizer.from_pretrained(path)
        _ensure_pad_token(self.tokenizer, path)
        self.load_model(path)
        self._append_id: int | None = None  # set when omnivec, not the tokenizer, appends the end token
        self.spec = self._settle_spec(spec, path)

    @classmethod
    def spec_for_folder(cls, path: Path, config: dict[str, Any]) -> EncoderSpec:
        """An unregistered checkpoint: pooling and length from its sentence-transformers files."""
        length = min(config.get("max_position_embeddings", DEFAULT_MAX_LENGTH), DEFAULT_MAX_LENGTH)
        return EncoderSpec(
            name=str(path), family="decoder", padding_side="left",
            max_length=st_max_length(path) or length, pooling=st_pooling(path),  # type: ignore[arg-type]
        )  # fmt: skip

    # --- load-time checks -----------------------------------------------------------------
    def _settle_spec(self, spec: EncoderSpec, path: Path) -> EncoderSpec:
        if spec.pooling is None:
            raise ModelUnavailableError(
                received=f"decoder checkpoint {path} with no pooling in its spec or sentence-transformers files",
                expected="a pooling mode (decoder embedders use 'last')",
                fix="pass --recipe with a registered model, e.g. --recipe BAAI/bge-code-v1",
            )
        config = self.config
        limit = getattr(config, "max_position_embeddings", None) or spec.max_length
        max_length = self.cap_length(spec.max_length, limit)
        self.check_dim(spec, config.hidden_size)
        options = {**spec.options, **self._check_end_token(spec)}
        return replace(spec, max_length=max_length, dim=config.hidden_size, options=options)

    def _check_end_token(self, spec: EncoderSpec) -> dict[str, Any]:
        """Record what the tokenizer appends; reconcile it with the spec's declared end token."""
        tok = self.tokenizer
        ids = tok("x")["input_ids"]
        plain = tok("x", add_special_tokens=False)["input_ids"]
        appends_eos = bool(ids) and ids[-1] == tok.eos_token_id
        appended = ids[-1] if len(ids) > len(plain) and ids[-1] in tok.all_special_ids else None
        expected = _expected_end_id(tok, spec)
        source = "tokenizer" if appended is not None else "none"
        if expected is not None and appended is None:
            self._append_id = expected
            source = "omnivec"
            log.warning(
                "%s: the tokenizer appends no end token, but the recipe expects %r after every input; "
                "omnivec appends it explicitly (recorded as end_token_source='omnivec')",
                spec.name, tok.convert_ids_to_tokens(expected),
            )  # fmt: skip
        elif expected is not None and appended != expected:
            raise ModelUnavailableError(
                received=f"tokenizer of {spec.name} appending {tok.convert_ids_to_tokens(appended)!r}",
                expected=f"the end token {tok.convert_ids_to_tokens(expected)!r} the recipe was trained with",
                fix="check that the folder holds the model the recipe is for, or load it without --recipe",
            )
        log.info("%s: tokenizer appends EOS: %s; end token source: %s", spec.name, appends_eos, source)
        return {"appends_eos": appends_eos, "end_token_source": source}

    # --- family hooks -----------------------------------------------------------------------
    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        _check_filled(instruction)
        texts = [self.spec.render(it.text or "", role, instruction) for it in items]
        if self._append_id is None:
            return tokenize(self.tokenizer, texts, self.spec.max_length)
        # keep one position for the end token, so truncation never cuts it off
        prepared = tokenize(self.tokenizer, texts, self.spec.max_length - 1)
        for p in prepared:
            p.data = [*p.data, self._append_id]
            p.cost += 1
            p.original_cost += 1
        return prepared


def _expected_end_id(tokenizer: Any, spec: EncoderSpec) -> int | None:
    want = spec.options.get("end_token")
    if want is None:
        return None
    token = tokenizer.eos_token if want == "eos" else want
    vocab = tokenizer.get_vocab()  # includes added tokens; unk ids would hide a missing token
    if token not in vocab:
        raise ModelUnavailableError(
            received=f"tokenizer of {spec.name} without the end token {token!r} its recipe expects",
            expected="a tokenizer from the checkpoint the recipe describes",
            fix="check that the folder holds the model the recipe is for",
        )
    return int(vocab[token])


def _ensure_pad_token(tokenizer: Any, path: Path) -> None:
    """Decoder tokenizers often lack a pad token; padded positions are masked, so EOS serves."""
    if tokenizer.pad_token is not None:
        return
    if tokenizer.eos_token is None:
        raise ModelUnavailableError(
            received=f"tokenizer in {path} with neither a pad nor an EOS token",
            expected="a tokenizer that defines pad_token or eos_token",
            fix="set pad_token in the checkpoint's tokenizer_config.json",
        )
    tokenizer.pad_token = tokenizer.eos_token


def _warn_custom_code(path: Path) -> None:
    custom = sorted(read_config(path).get("auto_map", {}))
    tok_cfg = path / "tokenizer_config.json"
    if tok_cfg.is_file():  # a custom tokenizer may be what appends the end token
        custom += sorted(json.loads(tok_cfg.read_text()).get("auto_map", {}))
    if custom:
        log.warning(
            "%s ships custom code for %s; omnivec runs the stock transformers classes instead "
            "(never the checkpoint's code): vectors differ if that code changes the model",
            path, ", ".join(custom),
        )  # fmt: skip


def _check_filled(instruction: str | None) -> None:
    if instruction and any(p in instruction for p in _UNFILLED):
        raise InputError(
            received=f"instruction with unfilled placeholders: {instruction!r}",
            expected="a complete instruction",
            fix="fill it in first, e.g. spec.instructions['code2code-cross']"
            ".format(src_code_language='Python', tgt_code_language='C++'), and pass it as instruction",
        )


# --- recipes ---------------------------------------------------------------------------------
_QA = (
    "Given a question that consists of a mix of text and code snippets, retrieve relevant answers "
    "that also consist of a mix of text and code snippets, and can help answer the question."
)
#: CoIR task id -> the instruction behind BGE-Code-v1's published numbers. Glob keys, first match
#: wins: the `-ccr` patterns must precede the plain CodeSearchNet ones, which also match them.
COIR_INSTRUCTIONS: dict[str, str] = {
    "coir:apps": "Given a code contest problem description, retrieve relevant code that can help solve the problem.",
    "coir:cosqa": "Given a web search query, retrieve relevant code that can help answer the query.",
    "coir:synthetic-text2sql": "Given a question in text, retrieve SQL queries that are appropriate responses to the question.",
    "coir:codesearchnet-ccr": "Given a piece of code segment, retrieve the code segment that is the latter part of the code.",
    "coir:codesearchnet-ccr-*": "Given a piece of code segment, retrieve the code segment that is the latter part of the code.",
    "coir:codesearchnet": "Given a piece of code, retrieve the document string that summarizes the code.",
    "coir:codesearchnet-*": "Given a piece of code, retrieve the document string that summarizes the code.",
    "coir:codetrans-dl": "Given a piece of code, retrieve code that is semantically equivalent to the input code.",
    "coir:codetrans-contest": "Given a piece of Python code, retrieve C++ code that is semantically equivalent to the input code.",
    "coir:stackoverflow-qa": _QA,
    "coir:codefeedback-st": _QA,
    "coir:codefeedback-mt": "Given a multi-turn conversation history that consists of a mix of text and code snippets, retrieve relevant answers that also consist of a mix of text and code snippets, and can help answer the question.",
}  # fmt: skip
#: general presets from BGE-Code-v1's training tasks. `code2code-cross` has placeholders the user
#: fills in (`.format(src_code_language=..., tgt_code_language=...)`); used unfilled it is refused.
CODE_INSTRUCTIONS: dict[str, str] = {
    "text2code": "Given a textual explanation of code functionality, retrieve the corresponding code implementation.",
    "error2code": "Given an error message encountered during coding, retrieve relevant code that can help resolve the error.",
    "api-usage": "Given a usage description of an API or library, retrieve code examples demonstrating the usage.",
    "bug2code": "Given a description of a software bug or unexpected behavior, retrieve relevant code that can help address the issue.",
    "code2code": "Given a piece of code, retrieve code that is semantically equivalent to the input code.",
    "code2code-cross": "Given a piece of {src_code_language} code, retrieve {tgt_code_language} code that is semantically equivalent to the input code.",
}  # fmt: skip

register_spec(
    EncoderSpec(
        name="BAAI/bge-code-v1",
        family="decoder",
        dim=1536,
        max_length=DEFAULT_MAX_LENGTH,
        pooling="last",
        padding_side="left",
        query_template="<instruct>{instruction}\n<query>{text}",
        default_instruction=CODE_INSTRUCTIONS["text2code"],
        instructions={**COIR_INSTRUCTIONS, **CODE_INSTRUCTIONS},
        options={"end_token": "eos"},  # the paper: an EOS ends every input, pooled there
        license="Apache-2.0",
        hardware="GPU (fp16, ~3.1 GB); CPU slow",
        params="1.54B",
        aliases=("bge-code",),
        description=(
            "BGE-Code-v1 code/text embedder (Qwen2.5-Coder-1.5B). Trained at 512 tokens; default "
            "2048 as in the published CoIR runs. Queries default to the text->code instruction; "
            "presets: coir:<task>, text2code, error2code, api-usage, bug2code, code2code"
        ),
    )  # fmt: skip
)
register_spec(
    EncoderSpec(
        name="Qwen/Qwen3-Embedding-0.6B",
        family="decoder",
        dim=1024,
        max_length=8192,
        pooling="last",
        padding_side="left",
        query_template="Instruct: {instruction}\nQuery:{text}",  # no space after "Query:" (model card)
        default_instruction="Given a web search query, retrieve relevant passages that answer the query",
        # the fixed upstream tokenizer appends <|endoftext|>, which is not its eos_token (<|im_end|>)
        options={"end_token": "<|endoftext|>"},
        license="Apache-2.0",
        hardware="GPU (fp16, ~1.2 GB) or CPU",
        params="596M",
        aliases=("qwen3-embedding",),
        description="Qwen3-Embedding 0.6B multilingual text/code embedder (32K context; default 8192)",
    )  # fmt: skip
)
