"""What the last update of an index did, kept with the store so `status` can say it later.

The ledger only holds files that were indexed: a file the walk leaves out (binary, too large, a
key file, generated) never reaches it. So the skips `omnivec index` reports are recorded here, and
`status` shows the same count under the same name instead of counting the ledger (which would
say 0 after a run that skipped 15 files). A local store keeps `last_update.json` in its folder; a
backend's store (Milvus) keeps it in its settings, beside the index settings.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from omnivec.index.report import IndexReport

log = logging.getLogger(__name__)

RECORD_FILE = "last_update.json"
META_KEY = "last_update"
KEPT_SKIPS = 20  # (path, reason) pairs kept; the count covers every skip


def summary(report: IndexReport) -> dict[str, Any]:
    """The counts of one update, when it finished, and its first skips with their reasons."""
    return {
        "finished": round(time.time(), 3), "seen": report.seen, "indexed": report.indexed,
        "unchanged": report.unchanged, "removed": report.removed, "skipped": len(report.skipped),
        "skips": [{"path": p, "reason": r} for p, r in report.skipped[:KEPT_SKIPS]],
    }  # fmt: skip


def save(store: Any, store_dir: Path, local: bool, report: IndexReport) -> None:
    """Record `report`; a failure is logged, never raised: the update itself has succeeded."""
    record = summary(report)
    try:
        if not local:
            store.set_meta(META_KEY, record)
            return
        fd, tmp = tempfile.mkstemp(dir=store_dir, prefix=".last_update.", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
        os.replace(tmp, store_dir / RECORD_FILE)  # a reader sees the old record or the new one
    except Exception as exc:  # a full disk, a read-only folder: status then shows the older record
        log.warning("could not record the update's summary in %s: %s", store_dir, exc)


def load(store: Any, store_dir: Path, local: bool) -> dict[str, Any] | None:
    """The last recorded update, or None (never recorded, or unreadable: it is only a summary)."""
    try:
        if not local:
            data = store.get_meta(META_KEY) if hasattr(store, "get_meta") else None
        else:
            path = store_dir / RECORD_FILE
            data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except Exception as exc:  # bad JSON, an unreadable file, a backend's error: only a summary
        log.warning("the last update's summary in %s is unreadable (%s); ignoring it", store_dir, exc)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("skipped"), int):
        return None
    return data
