"""`omnivec search`: check the query, open the index, print complete hits (`Hit.to_dict`)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from omnivec.cli.app import StoreOpt, app
from omnivec.cli.output import console, safe_name, safe_text
from omnivec.errors import InputError
from omnivec.runtime import setup_runtime

IMAGE_FORMATS = "a png, jpeg, webp, gif, bmp or tiff file"
GLOB_CHARS = frozenset("*?[")


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    store: StoreOpt = None,
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 10,
    type_: Annotated[str, typer.Option("--type", help="code, doc, image, screenshot or any.")] = "any",
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            help="Only paths matching this glob, relative to the indexed folder ('src/*.py'); "
            "a folder name means everything in it, and a path from the current folder works too.",
        ),
    ] = None,
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
    if image is not None:
        check_query_image(image)
    setup_runtime()
    from omnivec.api import Index
    from omnivec.index.discovery import find_store

    with Index.open(store or find_store(Path.cwd())) as idx:
        root = Path(idx.config.root)
        if path is not None:  # the store matches paths relative to its root; people type others
            q = dataclasses.replace(q, path_glob=root_relative_glob(path, root, Path.cwd()))
        hits = idx.search(q)
        share = idx.embedded_share() if q.mode != "keyword" else 1.0
        hint = path_hint(path, q.path_glob or path, root, idx.store.sources()) if path and not hits else None
    if share < 1:  # on stderr: --json stays a plain list of hits
        typer.echo(
            f"note: {share:.0%} of the index is embedded yet; {q.mode} search used the embedded part"
            " and keyword search sees every file (`omnivec index` finishes embedding)",
            err=True,
        )
    if hint:
        typer.echo(hint, err=True)
    if as_json:  # each hit carries `keyword_engine`
        typer.echo(json.dumps([h.to_dict() for h in hits], indent=2))
    else:
        _print_hits(hits)
        if hits.keyword_engine is not None:  # a dense search has no keyword side to name
            console().print(f"{q.mode} search, keyword engine {hits.keyword_engine}", style="dim")


def check_query_image(image: Path) -> None:
    """Refuse a query image that is missing, a folder, unreadable or not an image, before the
    index opens or a model loads (the model would only fail on it seconds later)."""
    name = safe_name(image)
    fix = "check the path (relative paths start from the current folder)"
    if not image.exists():
        raise InputError(f"--image {name}, which does not exist", IMAGE_FORMATS, fix, param="image")
    if image.is_dir():
        raise InputError(f"--image {name}, a folder, not an image file", IMAGE_FORMATS,
                         f"pick one image in it: --image {name}/FILE.png", param="image")  # fmt: skip
    if not image.is_file():
        raise InputError(f"--image {name}, which is not a regular file", IMAGE_FORMATS, fix, param="image")
    try:
        _decode(image)
    except OSError as exc:  # a permission error is an OSError too; Pillow's errors subclass it
        cannot = "cannot be read" if isinstance(exc, PermissionError) else "is not an image Pillow can decode"
        raise InputError(
            received=f"--image {name}, which {cannot} ({exc})", expected=f"a readable image: {IMAGE_FORMATS}",
            fix="search with another image (or convert this one to png), or describe it as query text",
            param="image",
        ) from exc  # fmt: skip


def _decode(image: Path) -> None:
    """Decode `image` once (the encoder decodes it again): a truncated file fails here too."""
    from omnivec.images import MAX_PIXELS, pil

    with pil().open(image) as img:
        if img.size[0] * img.size[1] > MAX_PIXELS:  # checked before decoding: a bomb stays unopened
            raise InputError(f"--image {safe_name(image)} of {img.size[0]}x{img.size[1]} pixels",
                             f"at most {MAX_PIXELS:,} pixels", "downscale it first", param="image")  # fmt: skip
        img.load()


def root_relative_glob(pattern: str, root: Path, cwd: Path) -> str:
    """`--path` as the store matches it: relative to the index root, posix style (a library
    `Query` takes it as given). A leading `./`, an absolute path, or a path from the current
    folder (when run below the root) become root-relative; a folder name becomes `folder/*`.
    A pattern that lies outside the root is kept as typed (it matches nothing; see `path_hint`)."""
    rel = _relative_to_root(pattern, root, cwd)
    if rel is None:
        return pattern
    if rel == "":  # the root itself
        return "*"
    if GLOB_CHARS.isdisjoint(rel) and _names_folder(pattern, root / rel):
        return f"{rel}/*"
    return rel


def _relative_to_root(pattern: str, root: Path, cwd: Path) -> str | None:
    if Path(pattern).is_absolute():
        lexical = _inside(pattern, root)
        return lexical if lexical is not None else _inside_resolved(pattern, root)
    from_root = _inside(os.path.join(root, pattern), root)
    from_cwd = _inside(os.path.join(cwd, pattern), root)
    if from_cwd is None or from_cwd == from_root:
        return from_root
    # `./x`, `../x` or `.` say "from here", as in a shell; otherwise the current folder's
    # reading wins only where it names something on disk and the root's reading does not
    explicit = pattern in (".", "..") or pattern.startswith(("./", "../"))
    literal = _literal_prefix(pattern)
    here = bool(literal) and (cwd / literal).exists() and not (root / literal).exists()
    return from_cwd if explicit or here or from_root is None else from_root


def _inside(path: str, root: Path) -> str | None:
    """`path` (absolute) relative to `root` as posix text ('' for the root), None outside it;
    lexical, so a symlinked folder inside the root keeps the name the store gave it."""
    rel = os.path.relpath(os.path.normpath(path), root)
    if rel == os.curdir:
        return ""
    return None if rel == os.pardir or rel.startswith(os.pardir + os.sep) else Path(rel).as_posix()


def _inside_resolved(pattern: str, root: Path) -> str | None:
    """An absolute pattern through a symlink to the root (/tmp vs /private/tmp): the literal
    folders resolved, the globbed rest kept."""
    parts = Path(pattern).parts
    n = len(Path(_literal_prefix(pattern)).parts)
    return _inside(str(Path(*parts[:n]).resolve().joinpath(*parts[n:])), root)


def _literal_prefix(pattern: str) -> str:
    """The leading path components without glob characters: what can be looked for on disk."""
    parts = []
    for part in PurePosixPath(pattern).parts:
        if not GLOB_CHARS.isdisjoint(part):
            break
        parts.append(part)
    return str(PurePosixPath(*parts)) if parts else ""


def _names_folder(pattern: str, on_disk: Path) -> bool:
    """A folder on disk, a name typed with a trailing '/', or one with no extension that is not
    a file here (`--path java`: the index may have been made elsewhere)."""
    if pattern.endswith(("/", os.sep)) or on_disk.is_dir():
        return True
    return not on_disk.exists() and not PurePosixPath(pattern).suffix


def path_hint(given: str, glob: str, root: Path, sources: dict[str, Any]) -> str | None:
    """Why `--path` found nothing, when no indexed path matches the glob (with an example of one
    that does); None when some do, so the query is what matched nothing."""
    from omnivec.stores.milvus_expr import glob_regex

    indexed = sorted(p for p, s in sources.items() if s.status == "indexed")
    rx = glob_regex(glob)
    if any(rx.fullmatch(p) for p in indexed):
        return None
    as_typed = f" (read as '{safe_name(glob)}')" if glob != given else ""
    return (f"note: no indexed path matches --path '{safe_name(given)}'{as_typed}; paths are matched "
            f"relative to the index root {safe_name(root)}{_example(given, indexed)}")  # fmt: skip


def _example(given: str, indexed: list[str]) -> str:
    """An indexed path like the one typed (by its last name), else a folder of the first one."""
    if not indexed:
        return ""
    last = PurePosixPath(_literal_prefix(given.rstrip("/")) or "x").name.lower()
    near = next((p for p in indexed if last and last in PurePosixPath(p).name.lower()), None)
    if near is None:
        parent = PurePosixPath(indexed[0]).parent
        near = f"{parent}/*" if str(parent) != "." else indexed[0]
    return f", e.g. --path '{safe_name(near)}'"


def bm25_label(score: float) -> str:
    """BM25 at a precision where a positive score never reads as 0 (0 means no word matched):
    one decimal from 1 up (`11.4`), two significant digits below (`0.04`)."""
    if score == 0 or abs(score) >= 1:
        return f"{score:.1f}"
    return f"{score:.2g}"


def score_label(hit: Any) -> str:
    """What a person can read: the cosine similarity to the query (-1..1) and the BM25 score of
    the query's words (0 = none matched), e.g. `cos 0.62  bm25 11.4`; `score` when neither ran."""
    parts = []
    if hit.dense_score is not None:
        parts.append(f"cos {hit.dense_score:.2f}")
    if hit.keyword_score is not None:
        parts.append(f"bm25 {bm25_label(hit.keyword_score)}")
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
        elif h.metadata.get("cell"):  # a notebook's line numbers count within the cell
            where = f"{h.path} cell {h.metadata['cell']}:{h.start_line}-{h.end_line}"
        out.print(Text.assemble((f"{rank}. {safe_name(where)}", "bold"), f"  {safe_name(h.symbol or '')}  ",
                                (score_label(h), "dim")))  # fmt: skip
        snippet = safe_text("\n".join((h.snippet or "").splitlines()[:8]))
        if snippet and h.kind == "code" and out.is_terminal:
            out.print(Syntax(snippet, h.language or "text", start_line=h.start_line or 1, line_numbers=True))
        elif snippet:
            out.print(snippet)
        out.print()
