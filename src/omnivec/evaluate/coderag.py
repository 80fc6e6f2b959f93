"""CodeRAG-Bench retrieval (nDCG@10) over local BEIR folders.

CodeRAG-Bench ships raw problems, not retrieval sets; its own scripts build BEIR folders. Put them
under `<data>/coderag/<set>/`. RepoEval and SWE-bench-Lite build one corpus per repository or
instance: there `<set>/` holds one BEIR folder per repository/instance, each scored on its own and
the set's score is their mean, as the benchmark does.
"""

from __future__ import annotations

from pathlib import Path

from omnivec.errors import InputError

from .data import load_beir
from .tasks import DataRoots, Published, Subset, Suite, Task, unknown_subtask

_TEXT2CODE = (
    "Given a textual explanation of code functionality, retrieve the corresponding code implementation."
)
_BUG2CODE = (
    "Given a description of a software bug or unexpected behavior, retrieve relevant code that can help "
    "address the issue."
)

# set -> (BGE-Code-v1 published nDCG@10, one corpus per repo/instance, fallback instruction)
SETS: dict[str, tuple[float, bool, str | None]] = {
    "humaneval": (100.0, False, _TEXT2CODE),
    "mbpp": (99.2, False, _TEXT2CODE),
    "ds1000": (40.9, False, _TEXT2CODE),
    "odex": (36.1, False, _TEXT2CODE),
    "repoeval": (93.1, True, None),
    "swe-bench-lite": (67.4, True, _BUG2CODE),
}

SUITE = Suite(
    benchmark="coderag",
    tasks=tuple(f"coderag:{s}" for s in SETS),
    published=(Published("BAAI/bge-code-v1", 72.8), Published("SFR-Embedding-Mistral", 67.0)),
    note="mean of the 6 sets; RepoEval and SWE-bench-Lite first averaged over repositories/instances",
)


def names() -> list[str]:
    return ["coderag", *(f"coderag:{s}" for s in SETS)]


def resolve(rest: str, roots: DataRoots) -> list[Task]:
    keys = list(SETS) if rest == "" else [rest]
    if any(k not in SETS for k in keys):
        raise unknown_subtask("coderag", rest, list(SETS))
    return [_task(k, roots) for k in keys]


def _task(key: str, roots: DataRoots) -> Task:
    score, per_corpus, instruction = SETS[key]
    folder = _folder(key, roots)
    return Task(
        name=f"coderag:{key}",
        benchmark="coderag",
        subsets=per_corpus_subsets(folder, key) if per_corpus else (_subset(folder, "default", key),),
        modality="code",
        title_mode="title-text",  # BEIR's dense runner encodes title + " " + text
        instruction=instruction,
        published=(Published("BAAI/bge-code-v1", score),),
        note="instructions are omnivec's choice; the published runs did not list theirs",
    )


def per_corpus_subsets(folder: Path, key: str) -> tuple[Subset, ...]:
    """One subset per BEIR folder below `folder` (repository or instance), sorted by name."""
    subs = sorted(p for p in folder.iterdir() if (p / "corpus.jsonl").is_file())
    if not subs:
        raise InputError(
            received=f"{folder} with no BEIR sub-folders",
            expected="one BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) per repository/instance",
            fix="build them with CodeRAG-Bench's retrieval scripts",
        )
    return tuple(_subset(p, p.name, key) for p in subs)


def _subset(folder: Path, label: str, key: str) -> Subset:
    return Subset(label, lambda: load_beir(folder), instruction_ids=(f"coderag:{key}",))


def _folder(key: str, roots: DataRoots) -> Path:
    folder = roots.data / "coderag" / key if roots.data else None
    if folder is None or not folder.is_dir():
        raise InputError(
            received=f"CodeRAG-Bench set {key!r} with no local folder ({folder})",
            expected="a BEIR folder (or one per repository) at <data>/coderag/" + key,
            fix="build it with CodeRAG-Bench's retrieval scripts and pass --data DIR",
        )
    return folder
