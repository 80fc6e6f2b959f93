"""Tasks: what to load, how to score it, and what others published, as data.

A task name is `family:rest` (`dev:code-docstring`, `coir:cosqa`, `coir` for the whole suite,
`coderag:humaneval`, `mmeb:CIRR`, `mvrb:SR/some_subtask`) or the path of any BEIR folder. Each
family lives in its own module and exposes `resolve(rest, roots) -> list[Task]`, `names()` and a
`SUITE` describing how its tasks average.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from omnivec.errors import InputError

from .data import Dataset, TitleMode, load_beir

Protocol = Literal["retrieval", "candidates"]
InstructionPolicy = Literal["preset", "inline"]


@dataclass(frozen=True)
class Published:
    """A number reported elsewhere for this task, as published (percent)."""

    model: str
    score: float
    metric: str = "ndcg_at_10"
    note: str = ""


@dataclass(frozen=True)
class Subset:
    """One corpus + queries scored together; a task averages its subsets' main scores.

    `instruction_ids` are the preset ids asked of the model's spec, first match wins.
    """

    name: str
    load: Callable[[], Dataset]
    languages: tuple[str, ...] = ()
    instruction_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """One named evaluation: its data, protocol, headline metric and published references.

    `instruction` is the benchmark's own query instruction, used for models with an instruction
    slot when their spec has no preset for the task; `instruction_policy="inline"` means the
    instruction is already part of each query's text (MMEB).
    """

    name: str
    benchmark: str
    subsets: tuple[Subset, ...]
    protocol: Protocol = "retrieval"
    main_metric: str = "ndcg_at_10"
    modality: str = "text->text"
    title_mode: TitleMode = "title-text"
    instruction: str | None = None
    instruction_policy: InstructionPolicy = "preset"
    published: tuple[Published, ...] = ()
    group: str = ""
    note: str = ""
    drop_self_hits: bool = True

    @property
    def slug(self) -> str:
        """A file-name-safe form of the name: `coir:cosqa` -> `coir-cosqa`."""
        return "".join(c if c.isalnum() or c in "-_." else "-" for c in self.name).strip("-")


@dataclass(frozen=True)
class Suite:
    """How a benchmark's tasks combine: overall = mean of task main scores; groups likewise."""

    benchmark: str
    tasks: tuple[str, ...] = ()
    published: tuple[Published, ...] = ()
    group_published: Mapping[str, tuple[Published, ...]] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class DataRoots:
    """Where data lives. `evaluate()` fills these from its settings (`evalsets_dir()` and
    `omnivec.config` for what they leave unset); the task loaders never read the environment.

    `evalsets`: the local dev sets (`devsets.evalsets_dir()`, by default `../shared/evalsets`). `data`: local copies of hub benchmarks in
    their own row formats (`<data>/coir/<name>/`, `<data>/coderag/<set>/`, `<data>/mmeb/`,
    `<data>/mvrb/`). `cache`: scratch space for hub downloads that need unpacking.
    """

    evalsets: Path | None = None
    data: Path | None = None
    cache: Path | None = None


FAMILIES: dict[str, str] = {
    "dev": "omnivec.evaluate.devsets",
    "coir": "omnivec.evaluate.coir",
    "coderag": "omnivec.evaluate.coderag",
    "mmeb": "omnivec.evaluate.mmeb",
    "mvrb": "omnivec.evaluate.mvrb",
}


def resolve_tasks(names: Sequence[str], roots: DataRoots) -> list[Task]:
    """Turn task names (or BEIR folder paths) into tasks; unknown names list the known ones."""
    out: list[Task] = []
    for name in names:
        family, _, rest = name.partition(":")
        if family in FAMILIES:
            out.extend(importlib.import_module(FAMILIES[family]).resolve(rest, roots))
        elif Path(name).expanduser().is_dir():
            out.append(beir_task(Path(name).expanduser()))
        else:
            raise InputError(
                received=f"task {name!r}",
                expected=f"a BEIR folder or a task name such as {', '.join(list_task_names()[:8])}, ...",
                fix="run `omnivec eval --list` for every task name",
            )
    return out


def list_task_names() -> list[str]:
    names: list[str] = []
    for module in FAMILIES.values():
        names.extend(importlib.import_module(module).names())
    return names


def suites() -> dict[str, Suite]:
    return {fam: importlib.import_module(mod).SUITE for fam, mod in FAMILIES.items()}


def beir_task(folder: Path, name: str | None = None) -> Task:
    """Any BEIR folder: nDCG@10, documents as title + text (BEIR's own convention)."""
    folder = folder.resolve()
    return Task(
        name=name or f"beir:{folder.name}",
        benchmark="beir",
        subsets=(Subset("default", lambda: load_beir(folder), instruction_ids=(f"beir:{folder.name}",)),),
        note=f"BEIR folder {folder}",
    )


def unknown_subtask(family: str, rest: str, known: Sequence[str]) -> InputError:
    return InputError(
        received=f"task {family}:{rest}",
        expected=f"one of {', '.join(known)}",
        fix=f"pick a listed {family} task, or `{family}` alone for all of them",
    )
