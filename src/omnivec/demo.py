"""`make demo`: the main job on the bundled default model (grows with each capability)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from omnivec.cli.app import setup_runtime

QUERIES = ["read a json file", "sort a list in reverse order", "open a tcp connection"]
SNIPPETS = [
    "def load(path):\n    with open(path) as f:\n        return json.load(f)",
    "items.sort(reverse=True)",
    "sock = socket.create_connection((host, port))",
]


def main() -> None:
    setup_runtime()
    from omnivec.encoders.registry import load_encoder

    enc = load_encoder()
    q = enc.encode(QUERIES, role="query")
    d = enc.encode(SNIPPETS, role="document")
    table = Table(title=f"cosine similarity, {enc.spec.name}")
    table.add_column("query")
    for s in SNIPPETS:
        table.add_column(s.splitlines()[-1].strip()[:28])
    for qi, row in zip(QUERIES, q @ d.T):
        best = row.argmax()
        table.add_row(qi, *(f"[bold]{v:.3f}[/]" if j == best else f"{v:.3f}" for j, v in enumerate(row)))
    Console().print(table)


if __name__ == "__main__":
    main()
