"""Find the files under a root worth indexing, fast: one `scandir` per folder and one `stat` per file.

Contents are never read, except the first 8 KB of files whose name does not tell their type (to
spot binaries and `#!` scripts). `.gitignore` files are honoured at every level (gitwildmatch, the
deepest file that matches decides, as in git), plus `.git/info/exclude`, a built-in list of
tool/cache folders, and `extra_ignores` (patterns relative to the root). Paths come out sorted.

Nothing outside the root is read by default: a symlink whose target lies outside it is reported
and left alone (`follow_external_links=True` follows it). A symlinked file inside the root is
indexed under the link's path; a symlinked folder inside the root is not entered (its files are
indexed under their own path), an outside one at most once per real path, and a link back to one
of its own ancestors is reported as a "symlink loop". Only regular files are ever opened (a FIFO
would block, a device never ends), and every read is bounded.

Key and credential files (`policy.SECRET_NAMES`; text holding a private key is refused when read,
see `SourceFile.scan_secrets`) and generated files (lock files, minified code, source maps:
`policy.GENERATED_NAMES` and a line-length check) are reported and left out unless
`include_secrets` / `include_generated` say otherwise.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omnivec.errors import InputError, require
from omnivec.ingest.filetypes import SNIFF_BYTES, classify, known_binary, sniff
from omnivec.ingest.model import Skipped, SourceFile
from omnivec.ingest.policy import (
    MINIFIED_HEAD_BYTES,
    MINIFIED_MIN_BYTES,
    generated_reason,
    minified_reason,
    one_line,
    secret_reason,
)

log = logging.getLogger(__name__)

IGNORED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "_darcs", ".venv", "venv", "node_modules", "bower_components",
    "__pycache__", "build", "dist", "target", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".hypothesis", ".ipynb_checkpoints", ".eggs", ".idea", ".vscode", ".gradle",
    ".next", ".nuxt", ".parcel-cache", ".turbo", ".terraform", "htmlcov", ".cache", ".omnivec",
})  # fmt: skip
IGNORED_DIR_SUFFIXES = (".egg-info",)
#: left out silently; secrets and lock files are reported instead (see `omnivec.ingest.policy`)
IGNORED_FILES = frozenset({
    ".DS_Store", "Thumbs.db", ".git",  # .git: a worktree's or submodule's pointer file
    ".gitignore", ".gitattributes", ".gitmodules", ".dockerignore", ".npmignore",  # tool config
})  # fmt: skip
MEDIA_KINDS = ("image", "pdf")
OUTSIDE_LINK = "symlink to a path outside the indexed folder"
IGNORE_FILE_BYTES = 1_000_000  # a .gitignore longer than this is not one
#: folders nest this deep at most: each level costs two stack frames of nested generators, and a
#: hostile tree thousands of levels deep would otherwise end the walk in a RecursionError
MAX_DEPTH = 100


@dataclass(frozen=True)
class WalkOptions:
    """What `walk` lets through; see `walk` for each field."""

    max_file_bytes: int = 2_000_000
    max_media_bytes: int = 64_000_000
    follow_external_links: bool = False
    include_secrets: bool = False
    include_generated: bool = False


def walk(
    root: Path,
    *,
    max_file_bytes: int = 2_000_000,
    extra_ignores: Sequence[str] = (),
    max_media_bytes: int = 64_000_000,
    follow_external_links: bool = False,
    include_secrets: bool = False,
    include_generated: bool = False,
) -> Iterator[SourceFile | Skipped]:
    """Yield every indexable file under `root` as a `SourceFile`, and what was left out as `Skipped`.

    `max_file_bytes` bounds text files; images and PDFs, which are routinely larger, are bounded by
    `max_media_bytes`. Ignored files (.gitignore, built-in tool folders) are not reported; every
    other file left out is, with a one-line reason. Order is sorted by path.

    - `follow_external_links`: follow symlinks to files and folders outside `root` (off: each is
      reported as "symlink to a path outside the indexed folder");
    - `include_secrets`: index key and credential files (`.env`, `id_rsa`, `*.pem`, ...) and text
      files holding a private key;
    - `include_generated`: index lock files, source maps and minified code.

    >>> for f in walk(Path("my-repo")):  # doctest: +SKIP
    ...     print(f.path, f.kind if isinstance(f, SourceFile) else f.reason)
    """
    root = Path(root)
    opts = WalkOptions(
        max_file_bytes, max_media_bytes, follow_external_links, include_secrets, include_generated
    )
    if root.is_file():  # a single file: a tree of one
        yield from _single_file(root, opts)
        return
    if not root.is_dir():
        what = "is not a file or folder" if root.exists() else "does not exist"  # a FIFO, a device
        raise InputError(
            received=f"a root folder {str(root)!r} that {what}",
            expected="an existing folder or file",
            fix="check the path",
        )
    real_root = os.path.realpath(root)
    rules = [_Rules("", _spec(_read_lines(root / ".git" / "info" / "exclude")))]
    state = _State(real_root, opts, _Rules("", _spec(extra_ignores)))
    for found in state.walk_dir(str(root), "", real_root, rules):
        yield _storable(found)


def _storable(found: SourceFile | Skipped) -> SourceFile | Skipped:
    """A name that is not valid UTF-8 comes from the OS with lone surrogates, which no database,
    JSON reader or terminal takes: it is recorded with its odd bytes written as `\\xNN`."""
    try:
        found.path.encode("utf-8")
    except UnicodeEncodeError:
        safe = found.path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return replace(found, path=safe)
    return found


@dataclass
class _Rules:
    """The patterns of one ignore file, matched against paths relative to its folder."""

    base: str  # posix folder relative to the root, "" or ending in "/"
    spec: Any  # pathspec.GitIgnoreSpec, or None when empty
    quick: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        if self.spec is not None:
            self.quick = _quick_regex(self.spec)

    def decide(self, rel: str) -> bool | None:
        """True: ignored, False: re-included by `!pattern`, None: no pattern matches."""
        if self.spec is None or not rel.startswith(self.base):
            return None
        sub = rel[len(self.base) :]
        if self.quick is not None and not self.quick.search(sub):
            return None
        return self.spec.check_file(sub).include  # type: ignore[no-any-return]


class _State:
    def __init__(self, real_root: str, opts: WalkOptions, extra: _Rules) -> None:
        self.real_root, self.opts, self.extra = real_root, opts, extra
        self.followed: list[str] = []  # real paths of outside folders entered through symlinks

    def walk_dir(self, abs_dir: str, rel_dir: str, real_dir: str, rules: list[_Rules]) -> Iterator[Any]:
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except PermissionError:
            yield Skipped(rel_dir.rstrip("/") or ".", "permission denied")
            return
        except FileNotFoundError:
            return  # deleted since its parent was listed
        except OSError as exc:
            yield Skipped(rel_dir.rstrip("/") or ".", one_line(f"cannot list folder ({exc.strerror or exc})"))
            return
        names = {e.name for e in entries}
        if rel_dir and "pyvenv.cfg" in names:  # a virtualenv, whatever its name
            return
        if ".gitignore" in names:
            rules = [*rules, _Rules(rel_dir, _spec(_read_lines(Path(abs_dir) / ".gitignore")))]
        for entry, is_dir in sorted(((e, _is_dir(e)) for e in entries), key=_order):
            rel = rel_dir + entry.name
            key = rel + "/" if is_dir else rel
            # extra_ignores are the caller's and final; .gitignore files may re-include with "!"
            if _builtin_ignored(entry.name, is_dir) or self.extra.decide(key) or _ignored(key, rules):
                continue
            if is_dir:
                yield from self._enter(entry, rel, real_dir, rules)
            else:
                item = self._file(entry, rel)
                if item is not None:
                    yield item

    def _enter(self, entry: os.DirEntry[str], rel: str, real_dir: str, rules: list[_Rules]) -> Iterator[Any]:
        if rel.count("/") >= MAX_DEPTH:
            yield Skipped(rel, f"a folder nested deeper than the {MAX_DEPTH}-level limit")
            return
        if not entry.is_symlink():
            yield from self.walk_dir(entry.path, rel + "/", real_dir + os.sep + entry.name, rules)
            return
        target = os.path.realpath(entry.path)
        reason = self._link_problem(target, real_dir)
        if reason:
            yield Skipped(rel, reason)
            return
        self.followed.append(target)
        yield from self.walk_dir(entry.path, rel + "/", target, rules)

    def _link_problem(self, target: str, real_dir: str) -> str | None:
        if _under(real_dir, target):
            return "symlink loop"
        if _under(target, self.real_root):
            return "symlink to a folder inside the tree (indexed under its own path)"
        if not self.opts.follow_external_links:
            return OUTSIDE_LINK
        if any(_under(target, done) for done in self.followed):
            return "symlink to a folder already walked"
        return None

    def _file(self, entry: os.DirEntry[str], rel: str) -> SourceFile | Skipped | None:
        reason = self._name_problem(rel)
        if reason is None and entry.is_symlink():
            reason = self._file_link_problem(entry.path)
        if reason:
            return Skipped(rel, reason)
        try:
            st = entry.stat()  # follows symlinks
        except FileNotFoundError:
            return Skipped(rel, "broken symlink") if entry.is_symlink() else None  # deleted meanwhile
        except OSError as exc:
            return Skipped(
                rel, "symlink loop" if exc.errno == errno.ELOOP else f"cannot stat ({exc.strerror})"
            )
        if not stat.S_ISREG(st.st_mode):
            return Skipped(rel, "not a regular file")  # a FIFO, device or socket: never opened
        if not os.access(entry.path, os.R_OK):
            return Skipped(rel, "permission denied")
        return self._regular(entry, rel, st)

    def _name_problem(self, rel: str) -> str | None:
        name = rel.rsplit("/", 1)[-1]
        if not self.opts.include_secrets and (reason := secret_reason(rel)):
            return reason
        if not self.opts.include_generated and (reason := generated_reason(name)):
            return reason
        return None

    def _file_link_problem(self, path: str) -> str | None:
        if self.opts.follow_external_links or _under(os.path.realpath(path), self.real_root):
            return None
        return OUTSIDE_LINK

    def _regular(self, entry: os.DirEntry[str], rel: str, st: os.stat_result) -> SourceFile | Skipped:
        found = classify(entry.name)
        limit = self.opts.max_media_bytes if found and found[0] in MEDIA_KINDS else self.opts.max_file_bytes
        if st.st_size > limit:
            return Skipped(rel, f"larger than {_human(limit)}")
        if found is None:
            if known_binary(entry.name):
                return Skipped(rel, "binary file")
            head = _read_head(entry.path, SNIFF_BYTES)
            if isinstance(head, str):
                return Skipped(rel, head)
            found = sniff(head)
            if found is None:
                return Skipped(rel, "binary file")
        kind, language = found
        if self._may_be_minified(kind, language, st.st_size):
            head = _read_head(entry.path, MINIFIED_HEAD_BYTES)
            reason = head if isinstance(head, str) else minified_reason(head)
            if reason:
                return Skipped(rel, reason)
        scan = not self.opts.include_secrets
        return SourceFile(rel, Path(entry.path), st.st_size, st.st_mtime_ns, kind, language, scan)

    def _may_be_minified(self, kind: str, language: str | None, size: int) -> bool:
        # prose (Markdown, text) legitimately keeps a paragraph per line; notebooks are JSON whose
        # cells are split out later
        code_like = (kind == "code" and language != "notebook") or language in ("html", "xml")
        return code_like and size >= MINIFIED_MIN_BYTES and not self.opts.include_generated


def _single_file(path: Path, opts: WalkOptions) -> Iterator[SourceFile | Skipped]:
    with os.scandir(path.parent) as it:
        entry = next((e for e in it if e.name == path.name), None)
    # a file named on its own was asked for by name: follow its link, keep it whatever its name
    opts = WalkOptions(opts.max_file_bytes, opts.max_media_bytes, True, True, opts.include_generated)
    state = _State(os.path.realpath(path.parent), opts, _Rules("", None))
    item = state._file(entry, path.name) if entry is not None else None
    if item is not None:
        yield item


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks: a link to a folder is walked as a folder
    except OSError:
        return False


def _order(pair: tuple[os.DirEntry[str], bool]) -> str:
    # "a.py" sorts before "a/x.py" in full-path order; a trailing "/" on folders gives the same here
    return pair[0].name + "/" if pair[1] else pair[0].name


def _builtin_ignored(name: str, is_dir: bool) -> bool:
    if is_dir:
        return name in IGNORED_DIRS or name.endswith(IGNORED_DIR_SUFFIXES)
    return name in IGNORED_FILES


def _ignored(rel: str, rules: list[_Rules]) -> bool:
    for rule in reversed(rules):  # the deepest .gitignore that has an opinion wins
        decision = rule.decide(rel)
        if decision is not None:
            return decision
    return False


def _read_head(path: str, n: int) -> bytes | str:
    """The first `n` bytes of a regular file, or why it cannot be read. Opened non-blocking and
    checked with `fstat`: a file swapped for a FIFO since its `stat` must not hang the walk."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return one_line(f"cannot read ({exc.strerror})")
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return "not a regular file"
        return os.read(fd, n)
    except OSError as exc:
        return one_line(f"cannot read ({exc.strerror})")
    finally:
        os.close(fd)


def read_source(path: Path, limit: int) -> bytes:
    """A found file's bytes, opened the way `walk` looks at it (non-blocking, regular files only)
    and read to at most `limit` bytes: a file swapped for a FIFO or grown past the limits since
    the walk fails with a one-line reason instead of hanging or filling memory."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except PermissionError:
        raise InputError("permission denied", "a readable file", "check the file's permissions") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError("not a regular file", "a regular file", "it was replaced during the run")
        parts, size = [], 0
        while size <= limit and (part := os.read(fd, min(1 << 20, limit + 1 - size))):
            parts.append(part)
            size += len(part)
    finally:
        os.close(fd)
    if size > limit:
        raise InputError(f"a file that grew past {_human(limit)} during the run", "a file within the limits",
                         "it will be looked at again on the next run")  # fmt: skip
    return b"".join(parts)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():  # also keeps a FIFO or device named .gitignore from being opened
        return []
    head = _read_head(str(path), IGNORE_FILE_BYTES)
    return [] if isinstance(head, str) else head.decode("utf-8", "replace").splitlines()


def _spec(lines: Sequence[str]) -> Any:
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return None
    pathspec = require("pathspec", "index", "reading .gitignore files")
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _quick_regex(spec: Any) -> re.Pattern[str] | None:
    """One alternation of every pattern: most paths match none, and one search is far cheaper
    than pathspec's per-pattern loop (~20 us per path for a 50-line .gitignore)."""
    parts = []
    for pattern in spec.patterns:
        regex = getattr(pattern, "regex", None)
        if pattern.include is None or regex is None:
            continue
        parts.append("(?:" + regex.pattern.replace("(?P<ps_d>", "(") + ")")
    try:
        return re.compile("|".join(parts)) if parts else None
    except re.error:  # a pathspec version with different regexes: use its slow path only
        return None


def _human(n: int) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"
