"""MMEB: 36 image-text tasks in 4 groups, Precision@1 over each row's own candidate list.

Rows (hub `TIGER-Lab/MMEB-eval`, one config per task, split `test`; or local files
`<data>/mmeb/<Task>/test.jsonl` or `<data>/mmeb/<Task>.jsonl`) carry `qry_text`, `qry_img_path`,
`tgt_text` (list) and `tgt_img_path` (list), gold candidate first. The `<|image_1|>` placeholder is
removed from texts; what remains is the instruction plus the query, encoded as the query text.
Image paths are relative to `<data>/mmeb/images/` when that folder exists, else `<data>/mmeb/`
(hub users unzip the dataset's images there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omnivec.errors import InputError, require

from .data import CandidateData, CandidateRow, Record, hub_error, read_jsonl
from .tasks import DataRoots, Published, Subset, Suite, Task, unknown_subtask

IMAGE_TOKEN = "<|image_1|>"

GROUPS: dict[str, tuple[str, ...]] = {
    "classification": ("ImageNet-1K", "N24News", "HatefulMemes", "VOC2007", "SUN397", "Place365",
                       "ImageNet-A", "ImageNet-R", "ObjectNet", "Country211"),
    "vqa": ("OK-VQA", "A-OKVQA", "DocVQA", "InfographicsVQA", "ChartQA", "Visual7W", "ScienceQA",
            "VizWiz", "GQA", "TextVQA"),
    "retrieval": ("VisDial", "CIRR", "VisualNews_t2i", "VisualNews_i2t", "MSCOCO_t2i", "MSCOCO_i2t",
                  "NIGHTS", "WebQA", "FashionIQ", "Wiki-SS-NQ", "OVEN", "EDIS"),
    "grounding": ("MSCOCO", "RefCOCO", "RefCOCO-Matching", "Visual7W-Pointing"),
}  # fmt: skip
OUT_OF_DISTRIBUTION = frozenset(
    ("Place365", "ImageNet-A", "ImageNet-R", "ObjectNet", "Country211", "ScienceQA", "VizWiz", "GQA",
     "TextVQA", "FashionIQ", "Wiki-SS-NQ", "OVEN", "EDIS", "RefCOCO", "RefCOCO-Matching", "Visual7W-Pointing")
)  # fmt: skip
TASK_GROUP = {t: g for g, ts in GROUPS.items() for t in ts}

_P1 = "precision_at_1"
SUITE = Suite(
    benchmark="mmeb",
    tasks=tuple(f"mmeb:{t}" for t in TASK_GROUP),
    published=(
        Published("BAAI/BGE-VL-MLLM-S1", 44.0, _P1, "zero-shot"),
        Published("CLIP", 37.8, _P1),
        Published("OpenCLIP", 39.7, _P1),
        Published("UniIR", 42.8, _P1),
        Published("BAAI/BGE-VL-MLLM-S2", 64.1, _P1, "fine-tuned on MMEB"),
        Published("VLM2Vec-Phi-3.5-V", 60.1, _P1, "fine-tuned on MMEB"),
    ),  # fmt: skip
    group_published={"retrieval": (Published("BAAI/BGE-VL-v1.5-mmeb", 72.2, _P1),)},
    note="overall = mean of 36 tasks; group = mean of its tasks; 20 in-distribution, 16 out-of-distribution",
)


def names() -> list[str]:
    return ["mmeb", *(f"mmeb:{g}" for g in GROUPS), *(f"mmeb:{t}" for t in TASK_GROUP)]


def resolve(rest: str, roots: DataRoots) -> list[Task]:
    if rest == "":
        keys = list(TASK_GROUP)
    elif rest in GROUPS:
        keys = list(GROUPS[rest])
    elif rest in TASK_GROUP:
        keys = [rest]
    else:
        raise unknown_subtask("mmeb", rest, [*GROUPS, *TASK_GROUP])
    return [_task(k, roots) for k in keys]


def _task(key: str, roots: DataRoots) -> Task:
    base = roots.data / "mmeb" if roots.data else None
    return Task(
        name=f"mmeb:{key}",
        benchmark="mmeb",
        subsets=(Subset("default", lambda: load(key, base), instruction_ids=(f"mmeb:{key}",)),),
        protocol="candidates",
        main_metric=_P1,
        modality="image-text",
        instruction_policy="inline",
        group=TASK_GROUP[key],
        note=("out-of-distribution" if key in OUT_OF_DISTRIBUTION else "in-distribution")
        + "; ties go to the gold candidate (first index), as an argmax does",
    )


def load(key: str, base: Path | None) -> CandidateData:
    local = _local_file(key, base)
    rows: Iterable[Mapping[str, Any]]
    if local is not None:
        rows = read_jsonl(local)
    else:
        datasets = require("datasets", "eval", f"loading MMEB task {key} from the Hugging Face hub")
        try:
            rows = datasets.load_dataset("TIGER-Lab/MMEB-eval", key, split="test")
        except Exception as exc:  # offline, renamed or gated: all mean "use a local copy"
            raise hub_error(f"TIGER-Lab/MMEB-eval {key}", f"<data>/mmeb/{key}/test.jsonl", exc) from exc
    return parse_rows(rows, _image_root(base))


def _local_file(key: str, base: Path | None) -> Path | None:
    if base is None:
        return None
    for path in (base / key / "test.jsonl", base / f"{key}.jsonl"):
        if path.is_file():
            return path
    return None


def _image_root(base: Path | None) -> Path | None:
    if base is None:
        return None
    return base / "images" if (base / "images").is_dir() else base


def parse_rows(rows: Iterable[Mapping[str, Any]], image_root: Path | None) -> CandidateData:
    return CandidateData([parse_row(row, i, image_root) for i, row in enumerate(rows)])


def parse_row(row: Mapping[str, Any], i: int, image_root: Path | None) -> CandidateRow:
    query = Record(
        f"q{i}", strip_image_token(row.get("qry_text")), image=_image(row.get("qry_img_path"), image_root)
    )
    texts, images = _as_list(row.get("tgt_text")), _as_list(row.get("tgt_img_path"))
    n = max(len(texts), len(images))
    candidates = tuple(
        Record(
            f"q{i}c{j}",
            strip_image_token(texts[j] if j < len(texts) else ""),
            image=_image(images[j] if j < len(images) else None, image_root),
        )
        for j in range(n)
    )
    return CandidateRow(query, candidates)


def strip_image_token(text: str | None) -> str:
    return (text or "").replace(IMAGE_TOKEN, "").strip()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _image(path: str | None, root: Path | None) -> str | None:
    if not path:
        return None
    if root is None:
        raise InputError(
            received=f"an MMEB row with image {path!r} and no local image folder",
            expected="the MMEB images unpacked under <data>/mmeb/images/",
            fix="download the image archive of TIGER-Lab/MMEB-eval, unzip it there and pass --data DIR",
        )
    return str((root / path).resolve())
