"""Jupyter notebooks (`.ipynb`) -> chunk drafts, cell by cell; outputs are dropped.

Code cells are chunked as code in the notebook's language (its kernel's), Markdown cells as
Markdown documents; raw cells and outputs (images as base64, tracebacks, tables) are left out:
they are large, machine-written and rarely what anyone searches for. Each draft carries
`extra["cell"]` (1-based, in the order of the notebook's cells), its line numbers count from the
first line of that cell, and its header names the cell ("nb.ipynb cell 3"). nbformat 4 and the
older nbformat 3 (cells inside `worksheets`) are read; anything else is an `InputError`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from omnivec.errors import InputError
from omnivec.ingest.code import code_drafts
from omnivec.ingest.docs import markdown_sections, section_drafts
from omnivec.ingest.policy import one_line
from omnivec.ingest.split import Draft
from omnivec.kinds import ChunkKind

#: what each cell type becomes: (chunk kind, language or None for the kernel's); others are dropped
CELL_KINDS: dict[str, tuple[ChunkKind, str | None]] = {
    "code": ("code", None),
    "markdown": ("doc", "markdown"),
}
#: kernel language names -> the language names chunkers know
KERNEL_LANGUAGES = {"python3": "python", "ipython": "python", "ir": "r", "c++": "cpp", "c#": "csharp"}
_LANGUAGE_NAME = re.compile(r"[a-z0-9+#_-]{1,30}")

Cell = tuple[str, str]  # (cell type, source text)


def notebook_drafts(text: str, path: str) -> list[Draft]:
    """Drafts for every code and Markdown cell of a notebook (see the module docstring)."""
    cells, language = load_notebook(text)
    drafts = []
    for number, (cell_type, source) in enumerate(cells, start=1):
        if cell_type not in CELL_KINDS or not source.strip():
            continue
        kind, lang = CELL_KINDS[cell_type]
        name = f"{path} cell {number}"
        if kind == "code":
            found = code_drafts(source, name, language)
        else:
            found = section_drafts(markdown_sections(source), name)
        for d in found:
            d.kind, d.language, d.extra = kind, lang or language, {**d.extra, "cell": number}
        drafts.extend(found)
    return drafts


def load_notebook(text: str) -> tuple[list[Cell], str]:
    """The (type, source) of each cell and the notebook's language; `InputError` when broken."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise _broken(f"not valid JSON ({one_line(str(exc), 80)})") from exc
    except RecursionError as exc:  # "[[[[..." nested deeper than the parser's stack
        raise _broken("JSON nested too deeply") from exc
    if not isinstance(doc, dict):
        raise _broken("a JSON document that is not an object")
    cells = doc.get("cells")
    if cells is None and isinstance(doc.get("worksheets"), list):  # nbformat 3
        cells = [
            c for sheet in doc["worksheets"] if isinstance(sheet, dict) for c in _list(sheet.get("cells"))
        ]
    if not isinstance(cells, list):
        raise _broken("no list of cells")
    # a malformed cell keeps its place, so cell numbers match the notebook's own order
    out = [(str(c.get("cell_type")), _source(c)) if isinstance(c, dict) else ("", "") for c in cells]
    return out, _language(doc.get("metadata"))


def _source(cell: dict[str, Any]) -> str:
    # nbformat 4 keeps a code cell's text in "source", nbformat 3 in "input"; either is a string
    # or a list of lines that keep their own "\n"
    raw = cell.get("source", cell.get("input", ""))
    if isinstance(raw, list):
        raw = "".join(part for part in raw if isinstance(part, str))
    if not isinstance(raw, str):
        return ""
    return raw.replace("\r\n", "\n").replace("\r", "\n")


def _language(metadata: Any) -> str:
    """The kernel's language, from `kernelspec.language` or `language_info.name`; Python if none."""
    meta = metadata if isinstance(metadata, dict) else {}
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        section = meta.get(key)
        name = section.get(field) if isinstance(section, dict) else None
        if isinstance(name, str) and _LANGUAGE_NAME.fullmatch(name.strip().lower()):
            low = name.strip().lower()
            return KERNEL_LANGUAGES.get(low, low)
    return "python"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _broken(what: str) -> InputError:
    return InputError(
        received=f"a notebook that cannot be read: {what}",
        expected="a Jupyter notebook (nbformat 3 or 4)",
        fix="open and re-save it in Jupyter, or add it to extra_ignores",
    )
