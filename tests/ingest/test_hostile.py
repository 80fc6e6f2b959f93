"""A folder of hostile and broken files: `walk` + `chunk_source` finish, account for every file
(indexed or skipped with a clean one-line reason), never read outside the root, never hang."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import pytest

from omnivec.errors import InputError
from omnivec.ingest import Chunk, Skipped, SourceFile, chunk_source, walk

from .helpers import CountingTokens, make_pdf

CANARY = "CANARY_b7f3a9e1"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds (almost) no pixels: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def small_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buf, format="PNG")
    return buf.getvalue()


LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE svg [\n<!ENTITY a "lol">\n'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(9))
    + ']>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&j;</text></svg>\n'
)


def build(tmp: Path) -> tuple[Path, set[str]]:
    """The hostile root, and every relative path created in it (as os.listdir names them)."""
    root = tmp / "root"
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(f"TOKEN = '{CANARY}'\n")
    (tmp / "canary.txt").write_text(f"{CANARY}\n")
    files: dict[str, bytes] = {
        "binary.dat": b"\x00\x01\x02" * 100,
        "binary.py": b"x = 1\n\x00\x00\n",
        "empty.py": b"",
        "empty.md": b"",
        "blank.txt": b"\n\n   \n",
        "invalid.py": b"x = 'caf\xe9'\n",
        "utf16.txt": "\ufeffhello from utf sixteen\n".encode("utf-16-le"),
        "cr_only.py": b"a = 1\rb = 2\r",
        "one_long_line.txt": b"word " * 200_000,
        "bomb.png": png_header(100_000, 100_000),
        "big.png": png_header(9400, 9400),
        "zero.png": png_header(0, 0),
        "truncated.png": small_png()[:60],
        "truncated.pdf": make_pdf(["Hello page one", "Page two"])[:300],
        "notapdf.pdf": b"%PDF-1.7 nothing else",
        "laughs.svg": LAUGHS.encode(),
        "nosvg.svg": b"<html>not an svg</html>",
        "broken.ipynb": b'{"cells": [ {"cell_type": "code", "source": ',
        "deep.ipynb": b"[" * 200_000,
        "bundle.js": b"var a=function(b){return b+1};" * 1000,
        ".env.local": b"API_KEY=hunter2\n",
        "id_rsa": b"-----BEGIN OPENSSH PRIVATE KEY-----\n",
        "new\nline.py": b"def newline(): pass\n",
        "-rf.py": b"def dash(): pass\n",
        ("a" * 240) + ".py": b"def long_name(): pass\n",
        "tab\there.md": b"# Tab\n\ntext\n",
        "esc\x1b[2J.txt": b"escape in the name\n",
    }
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    made = set(files)
    raw = os.fsencode(root) + b"/bad-\xff\xfe-bytes.py"  # a name that is not UTF-8
    with open(raw, "wb") as fh:
        fh.write(b"def bad_bytes(): pass\n")
    made.add("bad-\\xff\\xfe-bytes.py")  # recorded with its odd bytes escaped: valid UTF-8
    links = {
        "leak.py": tmp / "canary.txt", "vendor": outside, "zero.py": Path("/dev/zero"),
        "urandom": Path("/dev/urandom"), "loop_a": root / "loop_b", "loop_b": root / "loop_a",
        "self_dir": root, "dangling.py": root / "missing.py", "passwd.txt": Path("/etc/passwd"),
    }  # fmt: skip
    for name, target in links.items():
        (root / name).symlink_to(target)
    made |= set(links)
    os.mkfifo(root / "fifo.py")
    os.mkfifo(root / ".gitignore")  # read by the walker itself
    made.add("fifo.py")
    deep = root / "/".join(["d"] * 120)
    deep.mkdir(parents=True)
    (deep / "bottom.py").write_text("x = 1\n")
    made.add("/".join(["d"] * 120) + "/bottom.py")
    return root, made


@pytest.mark.timeout(120)
def test_hostile_corpus(tmp_path: Path) -> None:
    root, made = build(tmp_path)
    real_root = os.path.realpath(root)
    sources: dict[str, list[Chunk]] = {}
    skipped: dict[str, str] = {}
    for item in walk(root):
        if isinstance(item, Skipped):
            skipped[item.path] = item.reason
            continue
        assert isinstance(item, SourceFile)
        assert os.path.realpath(item.abs_path).startswith(real_root + os.sep), item.path
        data = item.abs_path.read_bytes()
        try:
            sources[item.path] = chunk_source(item, data, max_tokens=256, count_tokens=CountingTokens())
        except InputError as exc:  # what the indexer reports as this file's skip reason
            skipped[item.path] = exc.received

    # every file is accounted for: indexed, skipped, or under a skipped folder
    def accounted(rel: str) -> bool:
        return rel in sources or any(rel == s or rel.startswith(s + "/") for s in skipped)

    assert [rel for rel in sorted(made) if not accounted(rel)] == []
    assert not any(CANARY in c.text or CANARY in c.display for cs in sources.values() for c in cs)

    for path, reason in skipped.items():
        assert reason and "\n" not in reason and "\x1b" not in reason, (path, reason)
        assert len(reason) <= 160 and " object at 0x" not in reason, (path, reason)
        assert path not in reason and str(root) not in reason, (path, reason)

    outside = "symlink to a path outside the indexed folder"
    expected = {
        "binary.dat": "binary file", "leak.py": outside, "vendor": outside, "zero.py": outside,
        "urandom": outside, "passwd.txt": outside, "loop_a": "symlink loop", "loop_b": "symlink loop",
        "self_dir": "symlink loop", "dangling.py": "broken symlink", "fifo.py": "not a regular file",
        ".env.local": "secret: an environment file", "id_rsa": "secret: an SSH private key",
        "big.png": "an image of 9400x9400 pixels exceeds the 64-megapixel limit",
        "bomb.png": "an image of 10,000,000,000 pixels exceeds the 64-megapixel limit",
        "zero.png": "an image that cannot be decoded (cannot identify image file)", "bundle.js": "minified: average line 30,000 characters",
        "d/" * 100 + "d": "a folder nested deeper than the 100-level limit",
    }  # fmt: skip
    assert {k: skipped.get(k) for k in expected} == expected
    assert skipped["binary.py"].startswith("binary content")
    assert skipped["invalid.py"].startswith("bytes that are not valid UTF-8")
    for name in ("truncated.png", "truncated.pdf", "notapdf.pdf", "nosvg.svg", "broken.ipynb", "deep.ipynb"):
        assert name in skipped or name in sources, name

    assert sources["empty.py"] == [] and sources["blank.txt"] == []
    assert "hello from utf sixteen" in sources["utf16.txt"][0].display
    assert [c.display for c in sources["cr_only.py"]] == ["a = 1\nb = 2"]
    assert sum(len(c.display) for c in sources["one_long_line.txt"]) >= 999_000  # nothing lost
    assert sources["laughs.svg"][0].kind == "image"  # entities are never expanded
    odd = ["new\nline.py", "-rf.py", "a" * 240 + ".py", "tab\there.md", "bad-\\xff\\xfe-bytes.py"]
    for name in odd:
        assert sources[name], name


def test_read_source_never_blocks_and_is_bounded(tmp_path):
    from omnivec.errors import InputError
    from omnivec.ingest.walk import read_source

    fifo = tmp_path / "swapped.py"
    os.mkfifo(fifo)  # a file replaced by a FIFO between the walk and the read
    with pytest.raises(InputError, match="not a regular file"):
        read_source(fifo, 1000)
    big = tmp_path / "grown.py"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(InputError, match="grew past"):
        read_source(big, 4096)
    assert read_source(big, 5000) == b"x" * 5000
