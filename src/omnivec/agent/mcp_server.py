"""The stdio MCP server for coding agents, on the official `mcp` SDK (`MCPServer`).

Tools: `search`, `find_related`, `index`, `status` (see `omnivec.agent.session` for what each
returns). An `OmnivecError` comes back as a tool error carrying its message (received, expected,
fix), and so do arguments the tools' schemas refuse, unknown arguments included; anything else
as the SDK's plain "Error executing tool", with the traceback logged to stderr.
Nothing but the protocol is written to stdout: the SDK points file descriptor 1 at stderr while
it serves, so a stray print from a library cannot corrupt the stream.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import anyio
import anyio.from_thread

from omnivec.errors import InputError, OmnivecError, require, validation_message
from omnivec.index.progress import IndexProgress, ProgressCallback

# this module is the MCP server: without the SDK it cannot load (the tools' annotations need it)
require("mcp", "mcp", "the MCP server")
from mcp.server.mcpserver import Context, MCPServer  # noqa: E402
from mcp.server.mcpserver.exceptions import ToolError  # noqa: E402
from pydantic import Field, ValidationError  # noqa: E402

if TYPE_CHECKING:
    from omnivec.agent.session import AgentSession

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.25  # progress notifications at most this often (and on the last file)
INSTRUCTIONS = (
    "Semantic + keyword search over the code, docs and images of one repository. "
    "Use `search` to find code by what it does, `find_related` for code like a given file:line, "
    "`status` to see what is indexed. Every answer says how stale the index is (`index`): "
    "if `changed_files` > 0, results may miss recent edits; `index` refreshes."
)
T = TypeVar("T")
SCHEMA_HINT = "The tool's input schema is in tools/list."


class _Server(MCPServer):
    """`MCPServer` whose argument errors read like omnivec's other errors: the SDK's own is a raw
    pydantic dump, and it ignores arguments a tool does not take (a misspelt `path_glob` would
    quietly search everything)."""

    _arguments: dict[str, set[str]] | None = None  # tool -> the arguments its schema lists

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if self._arguments is None:  # from the schemas the SDK publishes: they cannot drift
            tools = await self.list_tools()
            self._arguments = {t.name: set(t.input_schema.get("properties", {})) for t in tools}
        unknown = sorted(set(arguments) - self._arguments.get(name, set(arguments)))
        if unknown:
            known = ", ".join(sorted(self._arguments[name])) or "none"
            raise ToolError(str(InputError(f"{name} arguments {', '.join(map(repr, unknown))}",
                                           f"only the arguments {name} takes: {known}",
                                           "drop or correct them")))  # fmt: skip
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                message, _ = validation_message(list(exc.__cause__.errors()), SCHEMA_HINT)
                raise ToolError(message) from exc.__cause__
            raise


def build_server(session: AgentSession) -> Any:
    """An `MCPServer` whose tools call `session`; its lifespan starts and stops the watcher."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        session.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(session.close)

    server = _Server("omnivec", instructions=INSTRUCTIONS, lifespan=lifespan, log_level="WARNING")

    @server.tool()
    async def search(
        query: Annotated[str, Field(description="What to look for, in words or code identifiers.")],
        k: Annotated[int, Field(description="Number of results (1-50).")] = 10,
        type: Annotated[
            Literal["any", "code", "doc", "image", "screenshot"], Field(description="Kind of content.")
        ] = "any",
        path_glob: Annotated[
            str | None, Field(description="Only paths matching this glob, e.g. 'src/*.py'.")
        ] = None,
        language: Annotated[str | None, Field(description="Only this language, e.g. 'python'.")] = None,
    ) -> dict[str, Any]:
        """Search the repository: path, lines, symbol, kind, scores and a trimmed snippet per hit,
        and under `index` how stale the index is (last update, watcher, changed files).
        `score` only orders the list; `dense_score` is the cosine similarity to the query (-1..1)
        and `keyword_score` the BM25 score of its words (null: no query word in the hit);
        `keyword_engine` names what computed the BM25 side (omnivec-bm25, omnivec-scan, milvus-bm25)."""
        return await _call(session.search, query, k, type, path_glob, language)

    @server.tool()
    async def find_related(
        path: Annotated[str, Field(description="File path, relative to the repository root.")],
        line: Annotated[int, Field(description="A 1-based line inside the code to compare.")],
        k: Annotated[int, Field(description="Number of results (1-50).")] = 5,
        same_file: Annotated[bool, Field(description="Also return chunks of the same file.")] = False,
    ) -> dict[str, Any]:
        """Code similar to the function, class or section containing path:line, from other files
        (duplicates, alternative implementations, callers written alike)."""
        return await _call(session.find_related, path, line, k, same_file)

    @server.tool()
    async def index(
        ctx: Context,
        path: Annotated[
            str | None, Field(description="The repository root (default) or a folder inside it.")
        ] = None,
    ) -> dict[str, Any]:
        """Start or refresh the incremental index of the repository (unchanged files cost nothing);
        reports progress while it runs and returns what it did."""
        report = await _call(session.index, path, _progress_reporter(ctx))
        await ctx.report_progress(report["seen"], report["seen"], "done")
        return report

    @server.tool()
    async def status() -> dict[str, Any]:
        """What is indexed (root, files, chunks per collection, models) and how stale it is."""
        return await _call(session.status)

    return server


async def _call(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking tool off the event loop; domain errors become tool errors with their message."""
    try:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args))
    except OmnivecError as exc:
        raise ToolError(str(exc)) from exc


def _progress_reporter(ctx: Context) -> ProgressCallback:
    """A callback for the indexing thread that sends throttled MCP progress notifications.

    The SDK sends nothing when the client did not ask for progress (no progress token).
    """
    last = [0.0]

    def report(p: IndexProgress) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S or p.phase == "done":
            return
        last[0] = now
        message = f"{p.phase}: {p.files_done}/{p.files_total} files, {p.chunks_done} chunks"
        anyio.from_thread.run(
            functools.partial(ctx.report_progress, p.files_done, p.files_total or None, message)
        )

    return report


def serve_stdio(session: AgentSession) -> None:
    """Serve `session` over stdin/stdout until the client closes the stream."""
    build_server(session).run("stdio")
