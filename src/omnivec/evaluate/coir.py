"""CoIR: ten code retrieval tasks (nDCG@10), from the hub or from local folders in CoIR's row format.

Local layout, one folder per hub dataset name under `<data>/coir/` (e.g. `cosqa/`,
`CodeSearchNet-python/`, `CodeSearchNet-ccr-go/`): `corpus.jsonl` and `queries.jsonl` with the rows
of the hub's `corpus` / `queries` splits (`_id`, `text`, `title`, ...) and the qrels rows
(`query_id`, `corpus_id`, `score`) in `qrels/test.jsonl` or `qrels.jsonl` (a BEIR
`qrels/test.tsv` works too). Without a local folder the hub datasets
`CoIR-Retrieval/{name}-queries-corpus` and `CoIR-Retrieval/{name}-qrels` are loaded through
`datasets`. Both go through the same row parsing and protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnivec.errors import require

from .data import Record, RetrievalData, hub_error, read_jsonl, read_qrels_tsv
from .tasks import DataRoots, Published, Subset, Suite, Task, unknown_subtask

LANGS = ("go", "java", "javascript", "php", "python", "ruby")
_QA = (
    "Given a question that consists of a mix of text and code snippets, retrieve relevant answers "
    "that also consist of a mix of text and code snippets, and can help answer the question."
)
_MT = (
    "Given a multi-turn conversation history that consists of a mix of text and code snippets, "
    "retrieve relevant answers that also consist of a mix of text and code snippets, and can help "
    "answer the question."
)


@dataclass(frozen=True)
class _CoirTask:
    hub: str  # hub dataset name; `{lang}` for the per-language tasks
    languages: tuple[str, ...]
    instruction: str  # the instruction BGE-Code-v1's published numbers used (models.md)
    bge_code_v1: float  # published nDCG@10


TASKS: dict[str, _CoirTask] = {
    "apps": _CoirTask("apps", ("eng-Latn", "python-Code"),
        "Given a code contest problem description, retrieve relevant code that can help solve the problem.", 98.08),
    "cosqa": _CoirTask("cosqa", ("eng-Latn", "python-Code"),
        "Given a web search query, retrieve relevant code that can help answer the query.", 46.72),
    "synthetic-text2sql": _CoirTask("synthetic-text2sql", ("eng-Latn", "sql-Code"),
        "Given a question in text, retrieve SQL queries that are appropriate responses to the question.", 64.35),
    "codesearchnet": _CoirTask("CodeSearchNet-{lang}", ("eng-Latn",),
        "Given a piece of code, retrieve the document string that summarizes the code.", 89.53),
    "codesearchnet-ccr": _CoirTask("CodeSearchNet-ccr-{lang}", (),
        "Given a piece of code segment, retrieve the code segment that is the latter part of the code.", 98.30),
    "codetrans-dl": _CoirTask("codetrans-dl", ("python-Code",),
        "Given a piece of code, retrieve code that is semantically equivalent to the input code.", 46.13),
    "codetrans-contest": _CoirTask("codetrans-contest", ("python-Code", "c++-Code"),
        "Given a piece of Python code, retrieve C++ code that is semantically equivalent to the input code.", 94.38),
    "stackoverflow-qa": _CoirTask("stackoverflow-qa", ("eng-Latn",), _QA, 95.35),
    "codefeedback-st": _CoirTask("codefeedback-st", ("eng-Latn",), _QA, 90.56),
    "codefeedback-mt": _CoirTask("codefeedback-mt", ("eng-Latn",), _MT, 94.38),
}  # fmt: skip

SUITE = Suite(
    benchmark="coir",
    tasks=tuple(f"coir:{k}" for k in TASKS),
    published=(
        Published("BAAI/bge-code-v1", 81.77),
        Published("Voyage-Code-003", 78.53),
        Published("CodeXEmbed-7B", 78.20),
        Published("Gemini-embedding", 73.90),
        Published("BAAI/bge-m3", 39.31),
    ),  # fmt: skip
    note="mean of the 10 task scores; CodeSearchNet and -ccr first averaged over their 6 languages",
)
_TITLE_NOTE = (
    "documents encoded as text only (the coir package); BGE's own runner and MTEB prepend the title: "
    "--title-mode title-text"
)


def names() -> list[str]:
    per_lang = [f"coir:{k}-{lang}" for k in ("codesearchnet", "codesearchnet-ccr") for lang in LANGS]
    return ["coir", *(f"coir:{k}" for k in TASKS), *per_lang]


def resolve(rest: str, roots: DataRoots) -> list[Task]:
    if rest == "":
        return [_task(k, LANGS, roots) for k in TASKS]
    if rest in TASKS:
        return [_task(rest, LANGS, roots)]
    for key in ("codesearchnet-ccr", "codesearchnet"):  # -ccr- first: it shares the prefix
        lang = rest.removeprefix(f"{key}-")
        if rest.startswith(f"{key}-") and lang in LANGS:
            return [_task(key, (lang,), roots, name=f"coir:{rest}")]
    raise unknown_subtask("coir", rest, [n.removeprefix("coir:") for n in names()[1:]])


def _task(key: str, langs: tuple[str, ...], roots: DataRoots, name: str | None = None) -> Task:
    spec = TASKS[key]
    per_lang = "{lang}" in spec.hub
    subsets = tuple(
        _subset(spec.hub.format(lang=lang), lang if per_lang else "default",
                spec.languages + ((f"{lang}-Code",) if per_lang else ()), key, lang if per_lang else "", roots)
        for lang in (langs if per_lang else ("",))
    )  # fmt: skip
    return Task(
        name=name or f"coir:{key}",
        benchmark="coir",
        subsets=subsets,
        modality="code",
        title_mode="text",
        instruction=spec.instruction,
        published=(Published("BAAI/bge-code-v1", spec.bge_code_v1),) if name is None else (),
        note=_TITLE_NOTE,
    )


def _subset(
    hub: str, label: str, languages: tuple[str, ...], key: str, lang: str, roots: DataRoots
) -> Subset:
    ids = [f"coir:{key}-{lang}" if lang else f"coir:{key}", f"coir:{hub}", hub]
    local = roots.data / "coir" / hub if roots.data else None
    return Subset(
        name=label,
        load=lambda: load_local(local) if local is not None and local.is_dir() else load_hub(hub),
        languages=languages,
        instruction_ids=tuple(dict.fromkeys(ids)),
    )


# --- rows ----------------------------------------------------------------------------------------------
def corpus_record(row: Mapping[str, Any]) -> Record:
    return Record(id=str(row["_id"]), text=row.get("text") or "", title=row.get("title") or "")


def query_record(row: Mapping[str, Any]) -> Record:
    return Record(id=str(row["_id"]), text=row.get("text") or "")


def qrels_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for r in rows:
        qrels.setdefault(str(r["query_id"]), {})[str(r["corpus_id"])] = int(r["score"])
    return qrels


def build(
    corpus: Iterable[Mapping[str, Any]],
    queries: Iterable[Mapping[str, Any]],
    qrels: Iterable[Mapping[str, Any]],
) -> RetrievalData:
    """CoIR rows -> data; queries without judgements are dropped, as the coir loader does."""
    return RetrievalData.build(
        (corpus_record(r) for r in corpus), (query_record(r) for r in queries), qrels_from_rows(qrels)
    )


def load_local(folder: Path) -> RetrievalData:
    corpus, queries = read_jsonl(folder / "corpus.jsonl"), read_jsonl(folder / "queries.jsonl")
    for candidate in (folder / "qrels" / "test.jsonl", folder / "qrels.jsonl"):
        if candidate.is_file():
            return build(corpus, queries, read_jsonl(candidate))
    tsv = read_qrels_tsv(folder / "qrels" / "test.tsv")
    rows = ({"query_id": q, "corpus_id": d, "score": s} for q, docs in tsv.items() for d, s in docs.items())
    return build(corpus, queries, rows)


def load_hub(hub: str) -> RetrievalData:
    datasets = require("datasets", "eval", f"loading CoIR-Retrieval/{hub} from the Hugging Face hub")
    try:
        qc = datasets.load_dataset(f"CoIR-Retrieval/{hub}-queries-corpus")
        qrels = datasets.load_dataset(f"CoIR-Retrieval/{hub}-qrels")["test"]
    except Exception as exc:  # offline, renamed or gated: all mean "use a local copy"
        raise hub_error(f"CoIR-Retrieval/{hub}", f"<data>/coir/{hub}/", exc) from exc
    return build(qc["corpus"], qc["queries"], qrels)
