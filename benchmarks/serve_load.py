"""Load on `omnivec serve` over loopback: 64 concurrent clients, then throughput at saturation.

1. Builds an index of a small folder (a copy of omnivec's own `ingest/` sources) with the bundled
   MiniLM and starts `omnivec serve` on 127.0.0.1 with that store and model.
2. Mixed load: `--clients` concurrent clients for `--seconds`, each alternating a
   `/v1/embeddings` request (`--batch` texts, base64 as the official client asks) and a
   `/v1/search` request. Prints requests/s, p50/p99 per endpoint, and errors (must be 0).
3. Saturation, `--rounds` times: in-process `Encoder.embed` (one batched call over the texts),
   then the same clients sending only `/v1/embeddings` for `--seconds`; each round's ratio of
   items/s compares neighbours in time (the machine may be shared), the median is reported.

Bounded: every phase stops at its deadline and after `--max-requests` requests per client.

    python benchmarks/serve_load.py [--seconds 60] [--clients 64] [--batch 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
QUERIES = [
    "split a long text into chunks that fit the model", "detect the language of a file",
    "read a PDF page's text", "walk a folder and skip ignored files", "make a thumbnail of an image",
    "parse markdown headings", "extract text from HTML", "name of a function node",
]  # fmt: skip


def corpus(folder: Path, n: int) -> list[str]:
    """`n` texts of 1-4 source lines (short, like queries and small chunks: the per-request work
    of the server, not the model, is what this measures)."""
    lines = [ln for p in sorted(folder.rglob("*.py")) for ln in p.read_text().splitlines() if ln.strip()]
    out, i = [], 0
    while len(out) < n:
        size = 1 + (len(out) * 7) % 4
        out.append("\n".join(lines[i : i + size]))
        i = (i + size) % max(1, len(lines) - 12)
    return out


def build_store(tmp: Path) -> Path:
    from omnivec.api import Index

    repo = tmp / "repo"
    shutil.copytree(ROOT / "src" / "omnivec" / "ingest", repo / "ingest")
    with Index.create(repo, tmp / "store", text_model=MODEL, image_model=None, screenshot_model=None) as idx:
        report = idx.update(use_cache=False)
    print(f"indexed {report.indexed} files, {report.chunks} chunks", flush=True)
    return tmp / "store"


def start_server(store: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "omnivec", "serve", "--store", str(store), "--model", MODEL,
           "--host", "127.0.0.1", "--port", "0"]  # fmt: skip
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the server prints its address once it is bound
    if not line.startswith("omnivec serving on "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}\n{log.read_text()[-2000:]}")
    return proc, line.split()[-1]


async def client(http, texts, batch, deadline, max_requests, lat, errors, offset, search=True) -> int:
    """One client's loop (odd clients start with a search); returns the texts it had embedded."""
    embedded, n = 0, 0
    turn = offset % 2 if search else 0
    while time.monotonic() < deadline and n < max_requests:
        if turn:
            q = {"text": QUERIES[(offset + n) % len(QUERIES)], "k": 5}
            await _call(http, "/v1/search", q, lat, errors)
        else:
            lo = (offset + n * batch) % (len(texts) - batch)
            body = {"model": MODEL, "input": texts[lo : lo + batch], "encoding_format": "base64"}
            if await _call(http, "/v1/embeddings", body, lat, errors):
                embedded += batch
        n += 1
        turn = 1 - turn if search else 0
    return embedded


async def _call(http, path, body, lat, errors) -> bool:
    t = time.perf_counter()
    try:
        r = await http.post(path, json=body)
        ok = r.status_code == 200
    except Exception as exc:  # counted, never hidden: the target is zero
        errors.append(f"{path}: {type(exc).__name__}: {exc}")
        return False
    if not ok:
        errors.append(f"{path}: {r.status_code} {r.text[:200]}")
    lat.setdefault(path, []).append(time.perf_counter() - t)
    return ok


async def phase(url, texts, args, search: bool) -> tuple[dict[str, list[float]], list[str], int, float]:
    import httpx

    lat: dict[str, list[float]] = {}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        start = time.monotonic()
        deadline = start + args.seconds
        done = await asyncio.gather(*(
            client(http, texts, args.batch, deadline, args.max_requests, lat, errors, i * 37, search)
            for i in range(args.clients)
        ))  # fmt: skip
        elapsed = time.monotonic() - start
    return lat, errors, sum(done), elapsed


def report(name: str, lat: dict[str, list[float]], errors: list[str], elapsed: float) -> None:
    total = sum(len(v) for v in lat.values())
    print(
        f"\n{name}: {total} requests in {elapsed:.1f} s = {total / elapsed:.1f} req/s, errors {len(errors)}"
    )
    for path, times in sorted(lat.items()):
        xs = sorted(times)
        p99 = xs[min(len(xs) - 1, int(0.99 * len(xs)))]
        print(f"  {path:16s} {len(xs):6d} req  {len(xs) / elapsed:7.1f} req/s  "
              f"p50 {statistics.median(xs) * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms")  # fmt: skip
    for e in errors[:5]:
        print("  error:", e)


def batches(url: str) -> tuple[float, float]:
    """(passes, items) so far, from the server's /metrics."""
    import re

    import httpx

    text = httpx.get(url + "/metrics", timeout=60).text
    found = dict(re.findall(r'omnivec_embed_batch_items_(count|sum)\{model="[^"]+"\} (\S+)', text))
    return float(found.get("count", 0)), float(found.get("sum", 0))


def load(texts: list[str]):
    from omnivec.encoders.registry import load_encoder

    enc = load_encoder(MODEL)
    enc.embed(texts[:64])  # warm-up
    return enc


def in_process(enc, texts: list[str]) -> float:
    """items/s of one batched `embed` call over the texts (the encoder's own batching loop)."""
    t = time.perf_counter()
    enc.embed(texts)
    return len(texts) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each load phase")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8, help="texts per embeddings request")
    ap.add_argument("--texts", type=int, default=512, help="distinct texts the clients cycle over")
    ap.add_argument("--rounds", type=int, default=3, help="alternating in-process / server measurements")
    ap.add_argument("--max-requests", type=int, default=100_000, help="per client and phase")
    args = ap.parse_args()
    from omnivec.runtime import setup_runtime

    setup_runtime()
    tmp = Path(tempfile.mkdtemp(prefix="omnivec-serve-load-"))
    try:
        store = build_store(tmp)
        texts = corpus(tmp / "repo", args.texts)
        enc = load(texts)
        proc, url = start_server(store, tmp / "server.log")
        ratios, errors = [], []
        try:
            lat, errs, _, elapsed = asyncio.run(phase(url, texts, args, search=True))
            report(f"mixed load, {args.clients} clients", lat, errs, elapsed)
            errors += errs
            # the machine is shared: in-process and server runs alternate, each ratio from neighbours
            for r in range(args.rounds):
                before = in_process(enc, texts)
                passes0, items0 = batches(url)
                lat, errs, items, elapsed = asyncio.run(phase(url, texts, args, search=False))
                passes1, items1 = batches(url)
                errors += errs
                served = items / elapsed
                ratios.append(served / before)
                report(
                    f"round {r + 1}: saturation, {args.clients} clients, embeddings only", lat, errs, elapsed
                )
                n = max(passes1 - passes0, 1)
                print(f"  in-process {before:.1f} items/s; server {served:.1f} items/s; ratio {ratios[-1]:.3f}; "
                      f"{n:.0f} shared forward passes, {(items1 - items0) / n:.1f} items each", flush=True)  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        print(f"\nratio server / in-process, median of {len(ratios)} rounds: {statistics.median(ratios):.3f} "
              f"(each {', '.join(f'{x:.3f}' for x in ratios)}) target >= 0.90")  # fmt: skip
        print(f"errors: {len(errors)} (target 0)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
