"""`make demo` helper: lay out a real folder to index (part of this machine's Python stdlib).

python -m omnivec.demo DEST     # copies json/, http/, email/ and a few modules into DEST
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

PACKAGES = ("json", "http", "email", "urllib")
MODULES = ("csv.py", "argparse.py", "shutil.py", "textwrap.py", "difflib.py")
QUERIES = (
    "parse a JSON document from a string",
    "send an HTTP request with custom headers",
    "when does a cookie expire",
    "compare two sequences and show the differences",
    "copy a directory tree recursively",
)


def prepare(dest: Path) -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    dest.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        target = dest / pkg
        if not target.exists():
            shutil.copytree(stdlib / pkg, target, ignore=shutil.ignore_patterns("__pycache__", "test*"))
    for mod in MODULES:
        if not (dest / mod).exists():
            shutil.copy2(stdlib / mod, dest / mod)
    return dest


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "queries":
        print("\n".join(QUERIES))
    else:
        print(prepare(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-data")))
