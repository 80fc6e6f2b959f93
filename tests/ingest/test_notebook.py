"""Notebooks are indexed cell by cell: code as code, Markdown as docs, outputs dropped."""

from __future__ import annotations

import json

import pytest

from omnivec.errors import InputError
from omnivec.ingest import classify

from .helpers import chunks_of


def _notebook(cells: list[dict], language: str | None = "python") -> str:
    meta = {"kernelspec": {"name": "k", "language": language}} if language else {}
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": cells})


def _code(source: str | list[str], outputs: list | None = None) -> dict:
    return {"cell_type": "code", "source": source, "outputs": outputs or [], "metadata": {}}


def _markdown(source: str) -> dict:
    return {"cell_type": "markdown", "source": source, "metadata": {}}


PNG_OUTPUT = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB" * 50}}


def test_cells_become_code_and_doc_chunks() -> None:
    nb = _notebook([
        _markdown("# Loading data\n\nRead the **penguins** table."),
        _code(["import pandas as pd\n", "df = pd.read_csv('penguins.csv')"], [PNG_OUTPUT]),
        {"cell_type": "raw", "source": "raw text is not indexed"},
        _code(""),
        _code("def flipper_ratio(row):\n    return row.flipper / row.mass\n"),
    ])  # fmt: skip
    assert classify("analysis.ipynb") == ("code", "notebook")
    chunks = chunks_of("analysis.ipynb", nb)
    by_cell = {c.extra["cell"]: c for c in chunks}
    assert sorted(by_cell) == [1, 2, 5]
    doc, load, func = by_cell[1], by_cell[2], by_cell[5]
    assert (doc.kind, doc.language, doc.symbol) == ("doc", "markdown", "Loading data")
    assert (load.kind, load.language) == ("code", "python")
    assert load.display == "import pandas as pd\ndf = pd.read_csv('penguins.csv')"
    assert (load.start_line, load.end_line) == (1, 2)  # lines of the cell, not of the JSON
    assert (func.symbol, func.start_line, func.end_line) == ("flipper_ratio", 1, 2)
    assert "analysis.ipynb cell 5" in func.text
    text = "\n".join(c.text for c in chunks)
    assert "iVBORw0KGgo" not in text and "raw text" not in text and "outputs" not in text


def test_notebook_language_comes_from_the_kernel() -> None:
    nb = _notebook([_code("summary(penguins)\nplot(penguins$mass)\n")], language="R")
    [chunk] = chunks_of("r.ipynb", nb)
    assert chunk.language == "r" and chunk.kind == "code"
    nb = _notebook([_code("x = 1\n")], language=None)
    assert chunks_of("default.ipynb", nb)[0].language == "python"
    nb = _notebook([_code("x = 1\n")], language="not a \x1b language")  # a hostile name is not used
    assert chunks_of("odd.ipynb", nb)[0].language == "python"


def test_nbformat_3_cells_are_read() -> None:
    nb = json.dumps({
        "nbformat": 3, "metadata": {},
        "worksheets": [{"cells": [{"cell_type": "code", "input": ["y = 2\n"], "outputs": []}]}],
    })  # fmt: skip
    [chunk] = chunks_of("old.ipynb", nb)
    assert chunk.display == "y = 2" and chunk.extra["cell"] == 1


@pytest.mark.parametrize(
    ("data", "what"),
    [
        ('{"cells": [', "not valid JSON"),
        ("[1, 2]", "not an object"),
        ('{"cells": 3}', "no list of cells"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_broken_notebook_is_an_input_error(data: str, what: str) -> None:
    with pytest.raises(InputError, match=what) as info:
        chunks_of("broken.ipynb", data)
    assert "\n" not in info.value.received and "broken.ipynb" not in info.value.received


def test_odd_cells_are_tolerated() -> None:
    nb = json.dumps(
        {"cells": [None, 3, {"cell_type": "code", "source": 7}, {"cell_type": "code"}, _code("z = 3")]}
    )
    [chunk] = chunks_of("odd.ipynb", nb)
    assert chunk.display == "z = 3" and chunk.extra["cell"] == 5  # its place in the notebook
