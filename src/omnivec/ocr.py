"""Tesseract OCR: page images -> text with word boxes, a content-keyed cache, line passages.

Used at index time (screenshots and scanned pages become passages of whole lines, each with its
words' boxes, see `omnivec.ingest.visual`) and by the OCR encoder family
(`omnivec.encoders.ocr`). Word boxes let a hit be shown highlighted on its page.

Tesseract runs as a subprocess per page (`tesseract stdin stdout tsv`), which lets each call
carry its own binary path and `OMP_THREAD_LIMIT=1` without touching process-wide state; pages
are read in parallel by a small thread pool (each thread waits on its own tesseract process).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omnivec.encoders.cache import open_cache_db
from omnivec.errors import MissingExtraError, OmnivecError
from omnivec.images import open_rgb
from omnivec.types import Item

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # left, top, width, height in the original image's pixels


@dataclass(frozen=True)
class OcrWord:
    text: str
    left: int
    top: int
    width: int
    height: int
    conf: float
    block: int
    par: int
    line: int

    @property
    def box(self) -> Box:
        return (self.left, self.top, self.width, self.height)


@dataclass(frozen=True)
class OcrResult:
    """The text of a page (lines joined by newlines, blocks by blank lines) and its words' boxes."""

    text: str
    words: tuple[OcrWord, ...] = ()
    size: tuple[int, int] = (0, 0)

    def to_json(self) -> str:
        return json.dumps({"size": self.size, "words": [list(asdict(w).values()) for w in self.words]})

    @classmethod
    def from_json(cls, blob: str) -> OcrResult:
        d = json.loads(blob)
        words = tuple(OcrWord(*w) for w in d["words"])
        return cls(text=_join_words(words), words=words, size=tuple(d["size"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class OcrSettings:
    """How Tesseract reads a page. `scale` resizes the image first (boxes are mapped back)."""

    lang: str = "eng"
    psm: int = 3
    scale: float = 1.0
    tesseract_cmd: str = "tesseract"
    timeout: float = 300.0

    def key(self) -> str:
        """What changes the OCR output (the binary's path does not)."""
        return f"{self.lang}|psm{self.psm}|x{self.scale:g}"


class OcrCache:
    """image content hash + settings -> OcrResult, in SQLite (WAL: safe across processes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_cache_db(
            self.path, "CREATE TABLE IF NOT EXISTS ocr (key TEXT PRIMARY KEY, result TEXT NOT NULL);"
        )

    def get(self, key: str) -> OcrResult | None:
        with self._lock:
            row = self._db.execute("SELECT result FROM ocr WHERE key=?", (key,)).fetchone()
        return OcrResult.from_json(row[0]) if row else None

    def put(self, key: str, result: OcrResult) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO ocr VALUES (?, ?)", (key, result.to_json()))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM ocr").fetchone()[0])


def default_ocr_cache() -> OcrCache:
    from omnivec.config import cache_dir

    return OcrCache(cache_dir() / "ocr.sqlite")


# --- running tesseract --------------------------------------------------------------------------
def ocr_image(image: Any, settings: OcrSettings | None = None, cache: OcrCache | None = None) -> OcrResult:
    """OCR one image (path or PIL image) into text plus word boxes.

    >>> res = ocr_image("page.png")                      # doctest: +SKIP
    >>> res.text.splitlines()[0], res.words[0].box       # doctest: +SKIP
    ('Built-in Functions', (52, 40, 163, 21))
    """
    settings = settings or OcrSettings()
    key = cache_key(image, settings) if cache is not None else ""
    if cache is not None and (hit := cache.get(key)) is not None:
        return hit
    img = open_rgb(image)
    size = img.size
    if settings.scale != 1.0:
        w, h = round(img.width * settings.scale), round(img.height * settings.scale)
        img = img.resize((max(1, w), max(1, h)), _pil().LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    words = _parse_tsv(_run_tesseract(buf.getvalue(), settings), 1.0 / settings.scale)
    result = OcrResult(text=_join_words(words), words=words, size=size)
    if cache is not None:
        cache.put(key, result)
    return result


def cache_key(image: Any, settings: OcrSettings) -> str:
    """The OCR cache key: the image's content hash plus the settings that change the output."""
    return f"{settings.key()}|{Item(image=image).content_hash()}"


def ocr_many(
    images: Sequence[Any],
    settings: OcrSettings | None = None,
    cache: OcrCache | None = None,
    workers: int = 2,
) -> list[OcrResult]:
    """OCR several images, `workers` tesseract processes at a time; results in input order."""
    if workers <= 1 or len(images) <= 1:
        return [ocr_image(im, settings, cache) for im in images]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda im: ocr_image(im, settings, cache), images))


def _run_tesseract(png: bytes, settings: OcrSettings) -> str:
    cmd = [settings.tesseract_cmd, "stdin", "stdout", "-l", settings.lang, "--psm", str(settings.psm), "tsv"]
    # one thread per tesseract: its OpenMP threads only fight each other on a small machine
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        proc = subprocess.run(
            cmd, input=png, capture_output=True, timeout=settings.timeout, env=env, check=False
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise MissingExtraError(
            received=f"OCR needs the Tesseract binary {settings.tesseract_cmd!r}, which was not found",
            expected="Tesseract OCR 4 or newer on the PATH (or tesseract_cmd=PATH)",
            fix="apt-get install tesseract-ocr tesseract-ocr-eng (macOS: brew install tesseract)",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise OmnivecError(
            f"Tesseract still running after {settings.timeout:.0f}s on one image",
            "a page that OCRs in time",
            "downscale the image (OcrSettings.scale) or raise OcrSettings.timeout",
        ) from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        fix = "check the image; run tesseract on it by hand to see the full error"
        if "Failed loading language" in err:
            fix = f"apt-get install tesseract-ocr-{settings.lang.split('+')[0]}"
        raise OmnivecError(f"Tesseract exited with {proc.returncode}: {err[-300:]}", "exit status 0", fix)
    return proc.stdout.decode("utf-8", errors="replace")


def _parse_tsv(tsv: str, factor: float) -> tuple[OcrWord, ...]:
    """Word rows (level 5) of Tesseract's TSV; boxes scaled back to the original image."""
    words = []
    for line in tsv.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        left, top, width, height = (round(int(c) * factor) for c in cols[6:10])
        block, par, ln = (int(c) for c in cols[2:5])
        words.append(OcrWord(cols[11].strip(), left, top, width, height, float(cols[10]), block, par, ln))
    return tuple(words)


def _join_words(words: Iterable[OcrWord]) -> str:
    lines: list[str] = []
    prev: tuple[int, int, int] | None = None
    for w in words:
        here = (w.block, w.par, w.line)
        if prev is not None and here == prev:
            lines[-1] += " " + w.text
        else:
            if prev is not None and here[:2] != prev[:2]:
                lines.append("")
            lines.append(w.text)
        prev = here
    return "\n".join(lines)


# --- using the results ------------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+")


def highlight_boxes(result: OcrResult, query_terms: str | Iterable[str]) -> list[Box]:
    """Boxes of the page's words that match a query term (case-insensitive, punctuation ignored).

    >>> highlight_boxes(ocr_image("page.png"), "zip iterables")   # doctest: +SKIP
    [(120, 388, 24, 15), (310, 388, 70, 15)]
    """
    return matching_boxes(((w.text, w.box) for w in result.words), query_terms)


def matching_boxes(words: Iterable[tuple[str, Box]], query_terms: str | Iterable[str]) -> list[Box]:
    """The boxes of the (word, box) pairs whose word matches a query term; see `highlight_boxes`."""
    text = query_terms if isinstance(query_terms, str) else " ".join(query_terms)
    terms = {t.lower() for t in _TOKEN.findall(text)}
    return [tuple(box) for word, box in words if terms & {t.lower() for t in _TOKEN.findall(word)}]  # type: ignore[misc]


def line_chunks(result: OcrResult, max_words: int = 60, overlap_lines: int = 1) -> list[OcrResult]:
    """Split a page into runs of whole lines of at most ~`max_words` words (one vector each),
    so text past the text encoder's limit is searchable too; each chunk keeps its words' boxes.

    On screenshot-docs, a page scored by its best 60-word chunk reaches nDCG@10 0.920 against 0.723
    for one truncated vector per page (benchmarks/screenshot_ocr.py).
    """
    lines: list[list[OcrWord]] = []
    for w in result.words:
        if lines and (w.block, w.par, w.line) == (lines[-1][0].block, lines[-1][0].par, lines[-1][0].line):
            lines[-1].append(w)
        else:
            lines.append([w])
    chunks, start = [], 0
    while start < len(lines):
        end, count = start, 0
        while end < len(lines) and (end == start or count + len(lines[end]) <= max_words):
            count += len(lines[end])
            end += 1
        words = tuple(w for ln in lines[start:end] for w in ln)
        chunks.append(OcrResult(_join_words(words), words, result.size))
        start = end if end >= len(lines) else max(start + 1, end - overlap_lines)
    return chunks


def _pil() -> Any:
    from omnivec.images import pil

    return pil()
