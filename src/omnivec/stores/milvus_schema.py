"""Milvus connection, schemas and server capabilities for `MilvusStore`.

Layout for a store named NAME (the URI's last segment):

- `NAME_meta`: the ledger. One row per source (`src:PATH`: its `SourceState`), per collection
  (`coll:NAME`: model, fingerprint, dim, recipe, times) and the index settings (`config`), each a
  JSON value. Milvus wants a vector field in every collection; this one carries a 2-d dummy.
- `NAME_c_COLL`: the records of one omnivec collection: id (primary key), source, path, kind,
  language, text, the code-aware keyword tokens `kw`, the remaining fields as JSON, the vector
  and, where the server has full-text search (Milvus >= 2.5), a BM25 sparse vector derived from
  `kw` by a Milvus function.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from omnivec.errors import InputError, MissingExtraError

META_DIM = 2
MAX_VARCHAR = 65_535
MAX_PATH = 4_096
MAX_ID = MAX_PATH + 128
MAX_TERMS, MAX_TERM = 4_096, 256
DENSE_INDEXES = ("FLAT", "HNSW", "IVF_FLAT", "IVF_SQ8")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,150}$")


@dataclass(frozen=True)
class MilvusTarget:
    """Where a store lives: `client_uri` for `MilvusClient`, `name` prefixes its collections."""

    scheme: str  # "milvus" | "milvus-lite"
    client_uri: str
    name: str
    index: str = "FLAT"
    keyword: str = "auto"  # "auto" | "bm25" | "scan"

    @property
    def display(self) -> str:
        """The URI without credentials, for logs and `stats()`."""
        return f"{self.scheme}://{self.client_uri.split('://', 1)[-1]}/{self.name}"


def parse_uri(uri: str) -> MilvusTarget:
    """`milvus://HOST:PORT/NAME[?index=HNSW&keyword=scan&secure=1]` or `milvus-lite:///PATH.db[?name=N]`.

    Credentials never go in the URI (they would end up in shell history and logs): a token comes
    from `OMNIVEC_MILVUS_TOKEN` (see `omnivec.config.milvus_token`).
    """
    parsed = urlparse(uri)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    scheme = parsed.scheme.lower()
    if parsed.username or parsed.password or "token" in query:
        raise InputError(
            received=f"a store URI with credentials ({scheme}://...)",
            expected="credentials only in the environment",
            fix="set OMNIVEC_MILVUS_TOKEN=user:password (or an API key) and drop them from the URI",
        )
    index = query.get("index", "FLAT").upper()
    keyword = query.get("keyword", "auto")
    if index not in DENSE_INDEXES or keyword not in ("auto", "bm25", "scan"):
        raise InputError(received=f"index={index} keyword={keyword} in {scheme}:// URI",
                         expected=f"index one of {', '.join(DENSE_INDEXES)}; keyword auto, bm25 or scan",
                         fix="fix the URI's query string")  # fmt: skip
    if scheme == "milvus-lite":
        path = unquote(parsed.netloc + parsed.path)
        if not path or path.endswith("/"):
            raise InputError(received=f"store {uri}", expected="milvus-lite:///path/to/file.db",
                             fix="name the database file, e.g. milvus-lite:///data/omnivec.db")  # fmt: skip
        name = query.get("name", "omnivec")
        return MilvusTarget(scheme, str(Path(path).expanduser().resolve()), _name(name, uri), index, keyword)
    host = parsed.hostname
    name = parsed.path.strip("/")
    if not host or not name:
        raise InputError(received=f"store {uri}", expected="milvus://HOST:PORT/NAME",
                         fix="e.g. --store milvus://127.0.0.1:19530/myrepo")  # fmt: skip
    proto = "https" if query.get("secure") in ("1", "true") else "http"
    return MilvusTarget(scheme, f"{proto}://{host}:{parsed.port or 19530}", _name(name, uri), index, keyword)


def _name(name: str, uri: str) -> str:
    if not _NAME.match(name):
        raise InputError(received=f"store name {name!r} in {uri}",
                         expected="letters, digits and underscores, not starting with a digit",
                         fix="e.g. milvus://HOST:PORT/my_repo")  # fmt: skip
    return name


def import_pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError as exc:
        raise MissingExtraError(
            received="a milvus:// or milvus-lite:// store without pymilvus installed",
            expected="the milvus extra",
            fix="pip install 'omnivec[milvus]'",
        ) from exc
    return pymilvus


def connect(target: MilvusTarget, token: str | None, writer: bool = True) -> Any:
    pm = import_pymilvus()
    if target.scheme == "milvus-lite":
        return _connect_lite(pm, target, writer)
    try:
        return pm.MilvusClient(uri=target.client_uri, token=token or "", timeout=30)
    except pm.MilvusException as exc:  # no server there, a refused login: pymilvus says which
        from omnivec.errors import StoreError

        raise StoreError(
            received=f"store {target.display}: the Milvus server at {target.client_uri} could not be"
            f" reached ({getattr(exc, 'message', None) or exc})",
            expected="a running Milvus server at that address (and a valid OMNIVEC_MILVUS_TOKEN if it"
            " requires a login)",
            fix="start Milvus there or fix HOST:PORT in the URI (e.g. milvus://127.0.0.1:19530/NAME);"
            " without a server, use a local file: --store milvus-lite:///path/to/omnivec.db",
        ) from exc


def _connect_lite(pm: Any, target: MilvusTarget, writer: bool) -> Any:
    """Open (a writer: create) a Milvus Lite file, readable by its owner only when created here.
    Lite lets one process at a time open a file: a second gets a StoreError saying so."""
    from omnivec.errors import StoreError

    path = Path(target.client_uri)
    if not writer and not path.exists():  # a reader never creates: a typo leaves nothing behind
        raise StoreError(
            received=f"store {target.display}, which does not exist",
            expected="a Milvus Lite file an `omnivec index` run created",
            fix=f"check the path, or index into it first: omnivec index FOLDER --store {target.display}",
        )
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lite_log() as said:
        try:
            client = pm.MilvusClient(target.client_uri)
        except Exception as exc:  # pymilvus raises several types here (lock, bad name, ...)
            raise _lite_error(target, path, exc, said) from exc
    if created and path.exists():
        path.chmod(0o700 if path.is_dir() else 0o600)  # its segments hold every chunk's text
    return client


def _lite_error(target: MilvusTarget, path: Path, exc: Exception, said: list[str]) -> Exception:
    from omnivec.errors import StoreError

    # Lite logs its DataDirLockedError and raises a plain "Open local milvus failed"
    if any("lock" in m.lower() for m in [*said, *map(str, _chain(exc))]):
        reason, fix = (
            "another process has it open",
            (
                "wait for the other omnivec process (an index run, a server) to finish, or use a Milvus "
                "server for concurrent readers"
            ),
        )
    else:
        reason = str(getattr(exc, "message", None) or exc)[:200]
        fix = "pass a path ending in .db, e.g. --store milvus-lite:///data/omnivec.db"
    return StoreError(
        received=f"store {target.display}: Milvus Lite could not open {path} ({reason})",
        expected="a Milvus Lite file (a path ending in .db) that no other process has open",
        fix=fix,
    )


@contextlib.contextmanager
def _lite_log() -> Iterator[list[str]]:
    """Milvus Lite's own log while it opens a file, kept back and handed to the caller: a failure
    to open logs a traceback to the terminal before pymilvus raises, which omnivec reports as a
    one-line error instead."""
    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage() + (str(record.exc_info[1]) if record.exc_info else ""))

    logger = logging.getLogger("milvus_lite")
    keep, propagate = Keep(), logger.propagate
    logger.addHandler(keep)
    logger.propagate = False
    try:
        yield said
    finally:
        logger.removeHandler(keep)
        logger.propagate = propagate


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or during."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def server_version(client: Any) -> tuple[int, int]:
    """(major, minor) of the server; Milvus Lite reports `milvus_lite-X.Y.Z`."""
    text = str(client.get_server_version())
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def has_full_text(client: Any) -> bool:
    """BM25 functions arrived in Milvus 2.5 (Milvus Lite numbers its releases alike)."""
    return server_version(client) >= (2, 5)


def meta_schema(client: Any) -> tuple[Any, Any]:
    pm = import_pymilvus()
    s = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("key", pm.DataType.VARCHAR, is_primary=True, max_length=MAX_ID)
    s.add_field("kind", pm.DataType.VARCHAR, max_length=32)
    s.add_field("value", pm.DataType.VARCHAR, max_length=MAX_VARCHAR)
    s.add_field("dummy", pm.DataType.FLOAT_VECTOR, dim=META_DIM)
    ip = client.prepare_index_params()
    ip.add_index("dummy", index_type="FLAT", metric_type="L2")
    return s, ip


def records_schema(
    client: Any, dim: int, index: str, full_text: bool, bm25_params: dict[str, Any] | None = None
) -> tuple[Any, Any]:
    """The records collection's schema and index parameters; `bm25_params` tune the full-text
    index (see `milvus_keyword.bm25_index_params`)."""
    pm = import_pymilvus()
    dt = pm.DataType
    s = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", dt.VARCHAR, is_primary=True, max_length=MAX_ID)
    for name, length in (("source", MAX_PATH), ("path", MAX_PATH), ("kind", 64), ("language", 64)):
        s.add_field(name, dt.VARCHAR, max_length=length)
    s.add_field("text", dt.VARCHAR, max_length=MAX_VARCHAR)
    s.add_field("fields", dt.VARCHAR, max_length=MAX_VARCHAR)
    s.add_field("kw_len", dt.INT64)
    s.add_field("vector", dt.FLOAT_VECTOR, dim=dim)
    ip = client.prepare_index_params()
    params = {"HNSW": {"M": 32, "efConstruction": 200}, "IVF_FLAT": {"nlist": 1024},
              "IVF_SQ8": {"nlist": 1024}}.get(index, {})  # fmt: skip
    ip.add_index("vector", index_type=index, metric_type="IP", params=params)
    if full_text:
        # the tokens are omnivec's code-aware ones, joined by spaces: Milvus's analyzer only
        # has to split on spaces, so `parseHTTPResponse` matches "http response" as locally
        s.add_field("kw", dt.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True)
        s.add_field("sparse", dt.SPARSE_FLOAT_VECTOR)
        s.add_function(pm.Function(name="kw_bm25", function_type=pm.FunctionType.BM25,
                                   input_field_names=["kw"], output_field_names=["sparse"]))  # fmt: skip
        ip.add_index(
            "sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=bm25_params or {}
        )
    else:
        # older servers: distinct terms in an array (filtered with array_contains_any, which
        # Milvus 2.3 has; its `like` takes prefixes only), scored by omnivec (milvus_keyword)
        s.add_field("kw", dt.VARCHAR, max_length=MAX_VARCHAR)
        s.add_field("terms", dt.ARRAY, element_type=dt.VARCHAR, max_capacity=MAX_TERMS, max_length=MAX_TERM)
    return s, ip


def create_collection(client: Any, name: str, schema: Any, index: Any) -> None:
    """Create, index and load a collection. An empty collection's index is built at once, so the
    client's fixed 0.5 s polls for index completion (one per index) are skipped: `load` waits."""
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_index(name, index, sync=False)
    client.load_collection(name)


def load_all(client: Any, name: str) -> None:
    """Load the store's collections into memory: a restarted server (or a Milvus Lite file opened
    by a new process) has them released, and a released collection refuses queries."""
    pm = import_pymilvus()
    for coll in client.list_collections():
        if (
            coll.startswith(f"{name}_")
            and client.get_load_state(coll)["state"] != pm.client.types.LoadState.Loaded
        ):
            client.load_collection(coll)


def fit_utf8(text: str, limit: int = MAX_VARCHAR) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, on a character boundary."""
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")
