"""`python -m tests.scale.milvus_crash_runner N omnivec-args...`: the CLI, SIGKILLed mid-write.

The Nth file write that brings records into Milvus kills its own process right after the new
records are upserted: the file's ledger row says `pending`, its old records are not yet
deleted, its new state is not yet written. That is the window between Milvus and the ledger.
The point is wrapped from here, so omnivec carries no hook.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def main() -> None:
    from omnivec.cli import main as cli_main
    from omnivec.stores import milvus

    target, hits = int(sys.argv[1]), 0
    original = milvus.MilvusStore._replace_in

    def replace_in(self: milvus.MilvusStore, name: str, source: str, rows: list[Any], raw: Any) -> Any:
        nonlocal hits
        if rows:
            hits += 1
            if hits == target:
                self._client.upsert(self._mname(name), rows)
                os.kill(os.getpid(), signal.SIGKILL)
        return original(self, name, source, rows, raw)

    milvus.MilvusStore._replace_in = replace_in  # type: ignore[method-assign]
    sys.argv = ["omnivec", *sys.argv[2:]]
    cli_main()


if __name__ == "__main__":
    main()
