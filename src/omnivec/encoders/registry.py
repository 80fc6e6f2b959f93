"""The model registry: family classes and named specs, discovered lazily from `omnivec.encoders`.

Each family file calls `register_family` / `register_spec` at import; the registry imports the
family files only on first lookup, so `import omnivec` stays free of work and heavy imports.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from omnivec.encoders.base import Encoder
from omnivec.encoders.spec import EncoderSpec
from omnivec.errors import InputError, ModelUnavailableError, UnknownModelError

log = logging.getLogger(__name__)

_FAMILIES: dict[str, type[Encoder]] = {}
_SPECS: dict[str, EncoderSpec] = {}
_ALIASES: dict[str, str] = {}
_discovered = False
_PRIVATE = {"base", "spec", "registry", "cache", "_hf", "composite"}
_PRIVATE |= {"onnx_runtime", "onnx_export", "onnx_cache", "onnx_cold", "backend_choice"}  # not families

E = TypeVar("E", bound=type[Encoder])


def register_family(name: str) -> Callable[[E], E]:
    def deco(cls: E) -> E:
        cls.family = name  # type: ignore[attr-defined]
        _FAMILIES[name] = cls
        return cls

    return deco


def register_spec(spec: EncoderSpec) -> EncoderSpec:
    _SPECS[spec.name] = spec
    for alias in (spec.name.split("/")[-1], *spec.aliases):
        _ALIASES.setdefault(alias.lower(), spec.name)
    return spec


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("omnivec.encoders")
    for mod in pkgutil.iter_modules(package.__path__):
        if mod.name not in _PRIVATE:
            importlib.import_module(f"omnivec.encoders.{mod.name}")


def list_specs() -> list[EncoderSpec]:
    _discover()
    return sorted(_SPECS.values(), key=lambda s: (s.family, s.name))


def list_families() -> list[str]:
    """Every registered family name, e.g. for a test suite that must cover each one."""
    _discover()
    return sorted(_FAMILIES)


def family_class(name: str) -> type[Encoder]:
    _discover()
    if name not in _FAMILIES:
        raise UnknownModelError(
            received=f"model family {name!r}",
            expected=f"one of {', '.join(sorted(_FAMILIES))}",
            fix="pick a listed family",
        )
    return _FAMILIES[name]


def get_spec(name: str) -> EncoderSpec:
    """A registered spec by full name or alias; unknown names get a did-you-mean."""
    _discover()
    if name in _SPECS:
        return _SPECS[name]
    if name.lower() in _ALIASES:
        return _SPECS[_ALIASES[name.lower()]]
    choices = list(_SPECS) + list(_ALIASES)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "run `omnivec models`"
    raise UnknownModelError(
        received=f"model {name!r}, which is not registered and is not a local folder",
        expected="a registered model name (see `omnivec models`) or a checkpoint folder",
        fix=hint,
    )


def spec_for_folder(path: Path, config: dict[str, Any]) -> EncoderSpec:
    """Pick the family for an unregistered checkpoint folder from its `model_type`."""
    _discover()
    model_type = config.get("model_type", "")
    for cls in _FAMILIES.values():
        if model_type in cls.model_types:
            return cls.spec_for_folder(path, config)  # type: ignore[attr-defined,no-any-return]
    raise ModelUnavailableError(
        received=f"checkpoint folder {path} with model_type {model_type!r}",
        expected="a model type one of omnivec's families loads: "
        + ", ".join(sorted(t for c in _FAMILIES.values() for t in c.model_types)),
        fix="pass --recipe NAME to apply a registered recipe, or add a family in omnivec/encoders/",
    )


MIN_MAX_LENGTH = 8  # room for the special tokens and an instruction's first words


def check_max_length(max_length: Any) -> int:
    """A truncation length must be a whole number of tokens, at least `MIN_MAX_LENGTH`."""
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < MIN_MAX_LENGTH:
        raise InputError(
            received=f"max_length {max_length!r}",
            expected=f"a whole number of tokens, {MIN_MAX_LENGTH} or more (the model's own limit caps it)",
            fix="pass e.g. --max-length 256, or leave it out for the model's own",
        )
    return max_length


def load_encoder(
    name_or_path: str | None = None,
    *,
    recipe: str | None = None,
    max_length: int | None = None,
    backend: str | None = None,
    torch_store_query: bool = False,
    **kw: Any,
) -> Encoder:
    """Load an encoder by registered name, alias, or checkpoint folder.

    `recipe` applies a registered spec to weights in a folder (e.g. a fine-tuned BGE-Code-v1).
    Weights are looked for in: the folder given, the Hugging Face cache / hub, bundled packages.
    A model that cannot be loaded is never replaced by another one.
    `backend` runs text families on `auto` (the default, `OMNIVEC_BACKEND` changes it: fp32 ONNX
    for BERT-family models whose export matches torch, else torch; see `backend_choice`), `torch`,
    `onnx` or `onnx-int8` (ONNX Runtime; `threads=N` sets its threads). The backend is part of the
    recipe: see `omnivec.encoders.onnx_runtime`. `torch_store_query` (with backend torch): the
    encoder only encodes queries for a collection built on torch, so it may run on a cached fp32
    export shown equal to torch (`backend_choice.load_torch_store_query`).
    """
    from omnivec.config import default_backend, default_model

    name = name_or_path or default_model()
    path = Path(name).expanduser()
    if path.is_dir():
        from omnivec.encoders._hf import read_config

        spec = get_spec(recipe) if recipe else spec_for_folder(path, read_config(path))
        # dims are facts about the official weights, not the recipe: the folder decides them
        spec = replace(spec, name=str(path), bundle=None, dim=None)
        weights: str | Path = path
    else:
        spec = get_spec(recipe or name)
        weights = spec.name
    if max_length is not None:
        spec = replace(spec, max_length=check_max_length(max_length))
    if "threads" in kw:
        from omnivec.runtime import check_threads

        check_threads(kw["threads"])
    from omnivec.encoders import backend_choice

    cls = family_class(spec.family)
    chosen = backend_choice.check_choice(backend or default_backend())
    supported = getattr(cls, "backends", ("torch",))
    if chosen == backend_choice.AUTO and len(supported) > 1:
        return backend_choice.load_auto(cls, spec, weights, kw)
    if chosen == "torch" and torch_store_query and len(supported) > 1:
        return backend_choice.load_torch_store_query(cls, spec, weights, kw)
    concrete = chosen not in ("torch", backend_choice.AUTO)
    if concrete and chosen in supported:
        kw["backend"] = chosen
    elif concrete and backend is not None:  # a default from the environment never fails
        raise InputError(
            received=f"backend {backend!r} for model {spec.name} (family {spec.family})",
            expected=f"a backend this family runs on: {', '.join(supported)}",
            fix="drop --backend; the ONNX backends serve the bert and decoder families",
        )
    return cls.load(spec, weights, **kw)  # type: ignore[attr-defined,no-any-return]
