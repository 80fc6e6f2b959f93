"""MVRB (Vis-IR): screenshot retrieval, composed retrieval, screenshot QA, open-vocabulary classification.

Each sub-task is `<Meta_Task>/<Sub_Task>/` with `query.jsonl` (`q_text`, `q_image`, `target`) and
`corpus.jsonl` (`text`, `image`, id in `content`); images come from `Images.zip`, paths relative to
the data root. Local copies go under `<data>/mvrb/` (images unpacked there); otherwise the hub
dataset `marsh123/MVRB` is read through `datasets` and its images unpacked into the cache folder.

The official evaluation code is unreleased, so the per-task metric is not confirmed: omnivec reports
Recall@1 as the main score (one target per query) and nDCG@10 beside it, and says so in results.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omnivec.errors import InputError, require

from .data import Record, RetrievalData, hub_error, read_jsonl
from .tasks import DataRoots, Published, Subset, Suite, Task

log = logging.getLogger(__name__)

HUB = "marsh123/MVRB"
GROUPS = ("SR", "CSR", "SQA", "OVC")
_R1 = "recall_at_1"
_UNCONFIRMED = "leaderboard metric unconfirmed (official code unreleased)"
SUITE = Suite(
    benchmark="mvrb",
    published=tuple(
        Published(m, s, _R1, _UNCONFIRMED)
        for m, s in (
            ("BAAI/BGE-VL-Screenshot", 60.61),
            ("GME-2B", 48.14),
            ("DSE", 45.21),
            ("ColPali", 43.64),
            ("SigLIP-so400m", 33.34),
            ("CLIP-L", 23.75),
        )
    ),  # fmt: skip
    group_published={
        g: (Published("BAAI/BGE-VL-Screenshot", s, _R1, _UNCONFIRMED),)
        for g, s in zip(GROUPS, (70.09, 59.58, 53.10, 54.46))
    },
    note="overall = mean of the sub-tasks present; main score Recall@1 (our choice: the official metric is unconfirmed)",
)


def names() -> list[str]:
    return ["mvrb", "mvrb:<Meta_Task>", "mvrb:<Meta_Task>/<Sub_Task>"]


def group_of(meta: str) -> str:
    """`Composed_Screenshot_Retrieval` -> `CSR`, `Screenshot_QA` -> `SQA` (initials; acronyms kept)."""
    if meta.upper() in GROUPS:
        return meta.upper()
    words = [w for w in meta.replace("-", "_").replace(" ", "_").split("_") if w]
    return "".join(w if w.isupper() else w[0].upper() for w in words)


def resolve(rest: str, roots: DataRoots) -> list[Task]:
    base = roots.data / "mvrb" if roots.data else None
    local = base is not None and base.is_dir()
    pairs = _local_subtasks(base) if local and base is not None else _hub_subtasks()
    wanted = [p for p in pairs if rest in ("", p[0], "/".join(p))]
    if not wanted:
        raise InputError(
            received=f"task mvrb:{rest}",
            expected=f"a Meta_Task or Meta_Task/Sub_Task among {', '.join('/'.join(p) for p in pairs[:12])}",
            fix="check the name against the MVRB folders",
        )
    return [_task(meta, sub, base if local else None, roots.cache) for meta, sub in wanted]


def _task(meta: str, sub: str, base: Path | None, cache: Path | None) -> Task:
    name = f"{meta}/{sub}"
    return Task(
        name=f"mvrb:{name}",
        benchmark="mvrb",
        subsets=(
            Subset(
                "default",
                lambda: load(meta, sub, base, cache),
                instruction_ids=(f"mvrb:{name}", f"mvrb:{group_of(meta)}"),
            ),
        ),
        main_metric=_R1,
        modality="screenshot",
        group=group_of(meta),
        note="main score Recall@1 with nDCG@10 beside it: " + _UNCONFIRMED,
    )


def _local_subtasks(base: Path) -> list[tuple[str, str]]:
    return sorted((q.parent.parent.name, q.parent.name) for q in base.glob("*/*/query.jsonl"))


def _hub_subtasks() -> list[tuple[str, str]]:
    hub = require("huggingface_hub", "eval", "listing the MVRB sub-tasks on the Hugging Face hub")
    try:
        files = hub.list_repo_files(HUB, repo_type="dataset")
    except Exception as exc:  # offline, rate-limited, moved: all mean "use a local copy"
        raise InputError(
            received=f"no local MVRB folder and the hub listing of {HUB} failed ({type(exc).__name__})",
            expected="a local copy under <data>/mvrb/ or a reachable Hugging Face hub",
            fix="download marsh123/MVRB where you are online and pass --data DIR (DIR/mvrb/...)",
        ) from exc
    pairs = {
        (f.split("/")[0], f.split("/")[1]) for f in files if f.endswith("/query.jsonl") and f.count("/") == 2
    }
    return sorted(pairs)


def load(meta: str, sub: str, base: Path | None, cache: Path | None) -> RetrievalData:
    if base is not None:
        folder = base / meta / sub
        return build(read_jsonl(folder / "query.jsonl"), read_jsonl(folder / "corpus.jsonl"), base)
    datasets = require("datasets", "eval", f"loading MVRB {meta}/{sub} from the Hugging Face hub")
    files = {"query": f"{meta}/{sub}/query.jsonl", "corpus": f"{meta}/{sub}/corpus.jsonl"}
    try:
        ds = datasets.load_dataset(HUB, data_files=files)
        images = _hub_images(cache)
    except InputError:
        raise
    except Exception as exc:  # offline, renamed or gated: all mean "use a local copy"
        raise hub_error(f"{HUB} {meta}/{sub}", f"<data>/mvrb/{meta}/{sub}/", exc) from exc
    return build(ds["query"], ds["corpus"], images)


def _hub_images(cache: Path | None) -> Path:
    import zipfile

    hub = require("huggingface_hub", "eval", "downloading the MVRB images")
    if cache is None:
        raise InputError(
            "no cache folder for the MVRB images", "a writable cache folder", "pass one in DataRoots.cache"
        )
    target = cache / "mvrb"
    if not (target / ".unpacked").is_file():
        archive = hub.hf_hub_download(HUB, "Images.zip", repo_type="dataset")
        log.info("unpacking %s into %s", archive, target)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
        (target / ".unpacked").touch()
    return target


def build(
    query_rows: Iterable[Mapping[str, Any]], corpus_rows: Iterable[Mapping[str, Any]], root: Path
) -> RetrievalData:
    """MVRB rows -> data: one relevant target per query (a list of targets is accepted)."""
    corpus = [
        Record(str(_first(r, "_id", "id", "content")), r.get("text") or "", image=_path(r.get("image"), root))
        for r in corpus_rows
    ]
    queries, qrels = [], {}
    for i, r in enumerate(query_rows):
        qid = str(_first(r, "_id", "id", "qid", default=f"q{i}"))
        queries.append(Record(qid, r.get("q_text") or "", image=_path(r.get("q_image"), root)))
        targets = r["target"] if isinstance(r["target"], list) else [r["target"]]
        qrels[qid] = {str(t): 1 for t in targets}
    return RetrievalData.build(corpus, queries, qrels)


def _first(row: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if row.get(k) is not None:
            return row[k]
    if default is None:
        raise InputError(
            f"an MVRB row with keys {sorted(row)}", f"one of {', '.join(keys)}", "check the file"
        )
    return default


def _path(image: str | None, root: Path) -> str | None:
    return str((root / image).resolve()) if image else None
