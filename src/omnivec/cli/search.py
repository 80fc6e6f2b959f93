"""`omnivec search`: check the query, open the index, print complete hits (`Hit.to_dict`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from omnivec.cli.app import StoreOpt, app
from omnivec.cli.output import console, safe_name, safe_text
from omnivec.runtime import setup_runtime


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    store: StoreOpt = None,
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 10,
    type_: Annotated[str, typer.Option("--type", help="code, doc, image, screenshot or any.")] = "any",
    path: Annotated[str | None, typer.Option("--path", help="Only paths matching this glob.")] = None,
    lang: Annotated[list[str] | None, typer.Option("--lang", help="Only these languages.")] = None,
    image: Annotated[Path | None, typer.Option(help="Query image (with text: a composed query).")] = None,
    text: Annotated[str | None, typer.Option(help="Text to go with --image.")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or keyword.")] = "hybrid",
    group: Annotated[bool, typer.Option("--group/--no-group", help="One hit per file.")] = False,
    keyword_weight: Annotated[
        float, typer.Option(help="Weight of the keyword scores in the fusion (dense: 1).")
    ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Plain JSON output.")] = False,
) -> None:
    """Search an index: dense and keyword results fused; each hit shows its cosine and BM25 score."""
    from omnivec.search.query import Query

    # checked before anything is opened or loaded: a typo costs no model start-up
    q = Query(
        text=text or query, image=image, k=k, type=type_, path_glob=path, languages=tuple(lang or ()),
        mode=mode, group_by_file=group, weights={"dense": 1.0, "keyword": keyword_weight},
    )  # fmt: skip
    setup_runtime()
    from omnivec.api import Index
    from omnivec.index.discovery import find_store

    with Index.open(store or find_store(Path.cwd())) as idx:
        hits = idx.search(q)
        share = idx.embedded_share() if q.mode != "keyword" else 1.0
    if share < 1:  # on stderr: --json stays a plain list of hits
        typer.echo(
            f"note: {share:.0%} of the index is embedded yet; {q.mode} search used the embedded part"
            " and keyword search sees every file (`omnivec index` finishes embedding)",
            err=True,
        )
    if as_json:  # each hit carries `keyword_engine`
        typer.echo(json.dumps([h.to_dict() for h in hits], indent=2))
    else:
        _print_hits(hits)
        if hits.keyword_engine is not None:  # a dense search has no keyword side to name
            console().print(f"{q.mode} search, keyword engine {hits.keyword_engine}", style="dim")


def score_label(hit: Any) -> str:
    """What a person can read: the cosine similarity to the query (-1..1) and the BM25 score of
    the query's words (0 = none matched), e.g. `cos 0.62  bm25 11.4`; `score` when neither ran."""
    parts = []
    if hit.dense_score is not None:
        parts.append(f"cos {hit.dense_score:.2f}")
    if hit.keyword_score is not None:
        parts.append(f"bm25 {hit.keyword_score:.1f}")
    return "  ".join(parts) or f"score {hit.score:.4f}"


def _print_hits(hits: list[Any]) -> None:
    from rich.syntax import Syntax
    from rich.text import Text

    out = console()
    if not hits:
        out.print("no results")
    for rank, h in enumerate(hits, 1):
        where = f"{h.path}:{h.start_line}-{h.end_line}" if h.kind != "image" else str(h.path)
        if h.metadata.get("page"):
            where = f"{h.path} page {h.metadata['page']}"
        out.print(Text.assemble((f"{rank}. {safe_name(where)}", "bold"), f"  {safe_name(h.symbol or '')}  ",
                                (score_label(h), "dim")))  # fmt: skip
        snippet = safe_text("\n".join((h.snippet or "").splitlines()[:8]))
        if snippet and h.kind == "code" and out.is_terminal:
            out.print(Syntax(snippet, h.language or "text", start_line=h.start_line or 1, line_numbers=True))
        elif snippet:
            out.print(snippet)
        out.print()
