"""The local development sets in `../shared/evalsets` (BEIR layout, built offline), and
`evalsets_dir()`, the one place that says where that folder is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omnivec.config import evalsets_override
from omnivec.errors import InputError

from .data import load_beir
from .tasks import DataRoots, Published, Subset, Suite, Task, unknown_subtask

SUITE = Suite(benchmark="dev", note="local development sets; no combined score")


@dataclass(frozen=True)
class _DevSet:
    folder: str  # relative to the evalsets root
    image_root: str | None  # relative to the evalsets root; None: the folder itself
    modality: str
    published: tuple[Published, ...] = ()
    note: str = ""


_BM25_DEFAULT = "BM25 (bm25s, identifiers whole)"
_BM25_SPLIT = "BM25 (bm25s, identifiers split)"

DEV_SETS: dict[str, _DevSet] = {
    "code-docstring": _DevSet(
        "code-docstring-dev", None, "text->code",
        (
            Published(_BM25_DEFAULT, 28.2), Published(_BM25_SPLIT, 42.6),
            Published(_BM25_DEFAULT, 58.6, "recall_at_100"), Published(_BM25_SPLIT, 76.4, "recall_at_100"),
        ),
        "2000 docstring sentences -> 20000 Python functions",
    ),
    "code-docstring-js": _DevSet(
        "code-docstring-js-dev", None, "text->code",
        (Published(_BM25_DEFAULT, 26.9), Published(_BM25_SPLIT, 40.9)),
        "1000 JSDoc sentences -> 4865 JavaScript functions (9 npm packages)",
    ),
    "code-to-code": _DevSet(
        "code-to-code-dev", None, "code->code",
        (Published(_BM25_DEFAULT, 74.0), Published(_BM25_SPLIT, 74.4)),
        "1000 first halves of Python functions -> 10000 second halves",
    ),
    "image-text-emoji": _DevSet(
        "image-text-emoji", None, "text->image", note="1870 emoji names -> 1861 emoji images"
    ),
    "image-text-emoji-i2t": _DevSet(
        "image-text-emoji/i2t", "image-text-emoji", "image->text",
        note="1861 emoji images -> 1870 emoji names",
    ),
    "screenshot-docs": _DevSet(
        "screenshot-docs", None, "text->screenshot",
        (Published("BM25 on the page text (OCR-free upper bound)", 98.4),),
        "643 section headings -> 601 Python docs screenshots",
    ),
}  # fmt: skip


def evalsets_dir() -> Path:
    """The evaluation-sets folder: `OMNIVEC_EVALSETS` when set, else `shared/evalsets` beside the
    checkout this package runs from (`<checkout>/../shared/evalsets`, where the dev sets are built).

    >>> evalsets_dir() / "code-docstring-dev"  # doctest: +SKIP
    """
    override = evalsets_override()
    if override is not None:
        return override
    import omnivec

    # src/omnivec/__init__.py -> parents[2] is the checkout; the shared folder sits beside it
    return Path(omnivec.__file__).resolve().parents[2].parent / "shared" / "evalsets"


def names() -> list[str]:
    return [f"dev:{n}" for n in DEV_SETS]


def resolve(rest: str, roots: DataRoots) -> list[Task]:
    keys = list(DEV_SETS) if rest == "" else [rest]
    if any(k not in DEV_SETS for k in keys):
        raise unknown_subtask("dev", rest, list(DEV_SETS))
    return [_task(k, _root(roots)) for k in keys]


def _root(roots: DataRoots) -> Path:
    if roots.evalsets is None or not roots.evalsets.is_dir():
        raise InputError(
            received=f"dev sets folder {roots.evalsets}",
            expected="the folder holding code-docstring-dev/, image-text-emoji/, screenshot-docs/",
            fix="set OMNIVEC_EVALSETS to that folder",
        )
    return roots.evalsets


def _task(key: str, root: Path) -> Task:
    spec = DEV_SETS[key]
    folder = root / spec.folder
    images = root / spec.image_root if spec.image_root else None
    return Task(
        name=f"dev:{key}",
        benchmark="dev",
        subsets=(
            Subset("default", lambda: load_beir(folder, image_root=images), instruction_ids=(f"dev:{key}",)),
        ),
        modality=spec.modality,
        published=spec.published,
        note=spec.note,
    )
