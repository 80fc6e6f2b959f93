"""`omnivec models` and `omnivec embed`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from omnivec.cli.app import app
from omnivec.errors import InputError
from omnivec.runtime import setup_runtime


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List known models: family, modalities, dimension, licence, where weights come from."""
    from omnivec.encoders.registry import list_specs

    rows = [
        {
            "name": s.name,
            "family": s.family,
            "modalities": ",".join(s.modalities),
            "dim": s.dim or "?",
            "max_length": s.max_length,
            "params": s.params,
            "license": s.license,
            "weights": "bundled (offline)" if s.bundle else ("none" if s.family == "fake" else "download"),
            "hardware": s.hardware,
        }  # fmt: skip
        for s in list_specs()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    # a name is what the user types next: never cut it
    table.add_column("name", no_wrap=True, min_width=max(len(str(r["name"])) for r in rows))
    for col in ("family", "modalities", "dim", "max len", "params", "licence", "weights", "hardware"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def unescape(text: str | None) -> str | None:
    r"""Turn `\n`, `\t` and `\\` typed on a command line into the characters they name."""
    if text is None:
        return None
    return text.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t").replace("\0", "\\")


MAX_INPUT_BYTES = 512_000_000  # far above any real batch of texts; below what exhausts memory


def read_inputs(source: str, limit: int = MAX_INPUT_BYTES) -> tuple[list[str], list[str], int]:
    """(ids, texts, blank lines skipped) from a text file, a JSONL file or `-`; reads at most `limit`."""
    raw = _read_bounded(source, limit)
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(
            received=f"{source}: bytes that are not UTF-8 at offset {exc.start}",
            expected="a UTF-8 text or JSONL file",
            fix="convert the file, e.g. iconv -f latin1 -t utf-8",
        ) from exc
    is_jsonl = source.endswith((".jsonl", ".ndjson")) or (lines and lines[0].lstrip().startswith("{"))
    ids, texts, blank = [], [], 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            blank += 1
            continue
        if is_jsonl:
            try:
                rec = json.loads(line)
                text = rec["text"]
                ident = str(rec.get("id", rec.get("_id", n)))
                if not isinstance(text, str) or not text.strip():
                    raise TypeError("text is not a non-empty string")
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise InputError(
                    received=f"{source} line {n}: {line[:60]!r}",
                    expected='a JSON object with a non-empty "text" string (and optionally "id")',
                    fix="fix that line (or drop it) or pass a plain text file with one item per line",
                ) from exc
            ids.append(ident)
            texts.append(text)
        else:
            ids.append(str(n))
            texts.append(line)
    if not texts:
        raise InputError(
            received=f"{source}: no items ({blank} blank lines)",
            expected="at least one non-empty line",
            fix="check the input file",
        )
    return ids, texts, blank


def _read_bounded(source: str, limit: int) -> bytes:
    """The bytes of a regular file or stdin, refusing devices (/dev/zero never ends) and more than
    `limit` bytes, before anything is embedded."""
    if source != "-":
        path = Path(source)
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a regular file"
            raise InputError(f"input {source}, which {what}", "a text or JSONL file, or '-' for stdin",
                             "check the path")  # fmt: skip
    with sys.stdin.buffer if source == "-" else open(source, "rb") as fh:
        raw = fh.read(limit + 1)
    if len(raw) > limit:
        raise InputError(
            received=f"input {source} of more than {limit:,} bytes",
            expected=f"at most {limit:,} bytes per run",
            fix="split the input into several files and embed them one by one",
        )
    return raw


def check_output(out: Path) -> None:
    """Refuse an output path that cannot be written, before any model loads or work is done."""
    if str(out) == "-":  # .npy needs its ids file beside it: stdout gets JSONL, with --out left out
        raise InputError("--out -", "a .npy file to write (ids go beside it, in NAME.ids.json)",
                         "omit --out to print JSONL ({id, vector} per line) on stdout, or give --out vectors.npy")  # fmt: skip
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"--out {out}, whose folder does not exist", "a path in an existing folder",
                         f"create it first: mkdir -p {folder}")  # fmt: skip
    if out.suffix != ".npy":
        raise InputError(f"--out {out}", "a path ending in .npy",
                         f"use --out {out.with_suffix('.npy')}, or omit --out to print JSONL on stdout")  # fmt: skip
    if not os.access(folder, os.W_OK):
        raise InputError(f"--out {out} in a folder you cannot write to", "a writable folder",
                         "pick another folder")  # fmt: skip


def check_role_options(role: str, instruction: str | None, task: str | None) -> None:
    """--role, --instruction and --task checked before any model loads, with fixes in flags (the
    library's own errors name its Python arguments)."""
    from omnivec.types import ROLES

    if role not in ROLES:
        raise InputError(f"--role {role!r}", f"one of {', '.join(ROLES)}",
                         "pass --role query for search queries; leave --role out for documents "
                         "(indexed content, the default)", param="role")  # fmt: skip
    if instruction is not None and task is not None:
        raise InputError("both --instruction and --task", "one of them (--task picks a preset instruction)",
                         "pass only one of --instruction and --task", param="instruction")  # fmt: skip
    given = "--instruction" if instruction is not None else "--task" if task is not None else None
    if given and role == "document":
        raise InputError(f"{given} with --role document", "instructions on queries only (documents are "
                         "embedded without one)", f"add --role query, or drop {given}", param="role")  # fmt: skip


@app.command()
def embed(
    source: Annotated[str, typer.Argument(help="Text file (one item per line), JSONL {id,text}, or '-'.")],
    model: Annotated[str | None, typer.Option(help="Registered name or checkpoint folder.")] = None,
    recipe: Annotated[
        str | None, typer.Option(help="Apply a registered recipe to a checkpoint folder.")
    ] = None,
    role: Annotated[
        str, typer.Option(help="query or document (--instruction and --task need query).")
    ] = "document",
    instruction: Annotated[str | None, typer.Option(help=r"Query instruction; \n is a newline.")] = None,
    task: Annotated[str | None, typer.Option(help="Preset instruction, e.g. coir:cosqa.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Truncation length in tokens.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write vectors to this .npy (ids beside it); left out: JSONL on stdout."),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: one per core).")] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="auto, torch, onnx or onnx-int8 (ONNX Runtime; text models). Default: auto."),
    ] = None,
) -> None:
    """Embed texts with a model and write the vectors (.npy) or print them as JSONL."""
    check_role_options(role, instruction, task)
    if out is not None:
        check_output(out)
    ids, texts, blank = read_inputs(source)
    setup_runtime(threads)
    from omnivec.encoders.registry import load_encoder

    enc = load_encoder(model, recipe=recipe, max_length=max_length, backend=backend)
    res = enc.embed(texts, role=role, instruction=unescape(instruction), task=task, progress=True)  # type: ignore[arg-type]
    if out is not None:
        np.save(out, res.vectors)
        out.with_suffix(".ids.json").write_text(json.dumps(ids))
    else:
        for i, vec in zip(ids, res.vectors):
            typer.echo(json.dumps({"id": i, "vector": [round(float(x), 7) for x in vec]}))
    rate = res.items_per_second
    tok_rate = res.tokens / res.seconds if res.seconds else 0.0
    msg = (
        f"embedded {len(ids)} items with {enc.spec.name} (dim {enc.dim}"
        f"{', ' + enc.spec.options['backend'] if 'backend' in enc.spec.options else ''}) in {res.seconds:.2f}s: "
        f"{rate:.1f} items/s, {tok_rate:.0f} tokens/s; truncated to {enc.spec.max_length} tokens: "
        f"{len(res.truncated)}"
    )
    if res.truncated:
        msg += f" (ids {', '.join(ids[i] for i in res.truncated[:10])}{' ...' if len(res.truncated) > 10 else ''})"
    if blank:
        msg += f"; skipped {blank} blank lines"
    typer.echo(msg, err=True)
