"""Load on `omnivec serve` over loopback: 64 concurrent clients, then throughput at saturation.

1. Builds an index of a small folder (a copy of omnivec's own `ingest/` sources) with the bundled
   MiniLM and starts `omnivec serve` on 127.0.0.1 with that store and model.
2. Mixed load: `--clients` concurrent clients for `--seconds`, each alternating a
   `/v1/embeddings` request (`--batch` texts, base64 as the official client asks) and a
   `/v1/search` request. Prints requests/s, p50/p99 per endpoint, and errors (must be 0).
3. Saturation, `--rounds` times: in-process `Encoder.embed` over the same texts (512-text calls,
   repeated for `--seconds`; once at the encoder's default token budget, the target's reference,
   once at the server's per-pass budget), then the same clients sending only `/v1/embeddings`
   for `--seconds`. Each round's ratio of items/s compares neighbours in time (the machine may
   be shared); the median is reported.

The clients are aiohttp coroutines in this process (httpx's async client cost 6 ms of CPU per
request here, aiohttp 0.4 ms: on two cores the load generator would otherwise eat into the
server's share). CPU seconds are accounted separately for the server process, the clients and
the in-process encoder, so a ratio below target can be told apart from a loaded machine: the
server's CPU per item against the in-process CPU per item is its overhead, whatever the load.

Bounded: every phase stops at its deadline and after `--max-requests` requests per client.

    python benchmarks/serve_load.py [--seconds 60] [--clients 64] [--batch 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
QUERIES = [
    "split a long text into chunks that fit the model", "detect the language of a file",
    "read a PDF page's text", "walk a folder and skip ignored files", "make a thumbnail of an image",
    "parse markdown headings", "extract text from HTML", "name of a function node",
]  # fmt: skip


@dataclass
class Phase:
    """What one load phase measured."""

    lat: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    items: int = 0
    elapsed: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end


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


async def client(http, texts, args, deadline, out: Phase, offset: int, search: bool) -> None:
    """One client's loop (odd clients start with a search)."""
    n, batch = 0, args.batch
    turn = offset % 2 if search else 0
    while time.monotonic() < deadline and n < args.max_requests:
        if turn:
            q = {"text": QUERIES[(offset + n) % len(QUERIES)], "k": 5}
            await _call(http, "/v1/search", q, out)
        else:
            lo = (offset + n * batch) % (len(texts) - batch)
            body = {"model": MODEL, "input": texts[lo : lo + batch], "encoding_format": "base64"}
            if await _call(http, "/v1/embeddings", body, out):
                out.items += batch
        n += 1
        turn = 1 - turn if search else 0


async def _call(http, path, body, out: Phase) -> bool:
    t = time.perf_counter()
    try:
        async with http.post(path, json=body) as r:
            await r.read()
            ok = r.status == 200
            text = "" if ok else (await r.text())[:200]
    except Exception as exc:  # counted, never hidden: the target is zero
        out.errors.append(f"{path}: {type(exc).__name__}: {exc}")
        return False
    if not ok:
        out.errors.append(f"{path}: {r.status} {text}")
    out.lat.setdefault(path, []).append(time.perf_counter() - t)
    return ok


async def _drive(url, texts, args, search: bool, out: Phase) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=args.clients)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as http:
        deadline = time.monotonic() + args.seconds
        await asyncio.gather(
            *(client(http, texts, args, deadline, out, i * 37, search) for i in range(args.clients))
        )


def phase(url: str, server_pid: int, texts: list[str], args, search: bool) -> Phase:
    import psutil

    out = Phase()
    server = psutil.Process(server_pid)
    cpu0, srv0, load0 = _own_cpu(), _cpu_of(server), os.getloadavg()[0]
    start = time.monotonic()
    asyncio.run(_drive(url, texts, args, search, out))
    out.elapsed = time.monotonic() - start
    out.client_cpu, out.server_cpu = _own_cpu() - cpu0, _cpu_of(server) - srv0
    out.load = (load0, os.getloadavg()[0])
    return out


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # the encoder's threads are idle meanwhile
    return r.ru_utime + r.ru_stime


def _cpu_of(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def report(name: str, p: Phase) -> None:
    total = sum(len(v) for v in p.lat.values())
    print(
        f"\n{name}: {total} requests in {p.elapsed:.1f} s = {total / p.elapsed:.1f} req/s, "
        f"errors {len(p.errors)}; load {p.load[0]:.1f} -> {p.load[1]:.1f}"
    )
    for path, times in sorted(p.lat.items()):
        xs = sorted(times)
        p99 = xs[min(len(xs) - 1, int(0.99 * len(xs)))]
        print(f"  {path:16s} {len(xs):6d} req  {len(xs) / p.elapsed:7.1f} req/s  "
              f"p50 {statistics.median(xs) * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms")  # fmt: skip
    print(f"  CPU: server {p.server_cpu:.1f} s, clients {p.client_cpu:.1f} s "
          f"({1000 * p.client_cpu / max(total, 1):.2f} ms per request)")  # fmt: skip
    for e in p.errors[:5]:
        print("  error:", e)


def batches(url: str) -> tuple[float, float]:
    """(passes, items) so far, from the server's /metrics."""
    import re
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=60) as r:
        text = r.read().decode()
    found = dict(re.findall(r'omnivec_embed_batch_items_(count|sum)\{model="[^"]+"\} (\S+)', text))
    return float(found.get("count", 0)), float(found.get("sum", 0))


def load(texts: list[str]):
    from omnivec.encoders.registry import load_encoder

    enc = load_encoder(MODEL)
    enc.embed(texts[:64])  # warm-up
    return enc


def in_process(
    enc, texts: list[str], seconds: float, budget: int | None = None
) -> tuple[float, float, float]:
    """(items/s, CPU s per item, load) of batched `embed` calls over the texts (the encoder's own
    batching loop; its default token budget unless `budget`), 512 texts a call, repeated until
    `seconds` have passed."""
    n, cpu0, start = 0, _own_cpu(), time.perf_counter()
    while True:
        enc.embed(texts, batch_tokens=budget)
        n += len(texts)
        if time.perf_counter() - start >= seconds:
            break
    elapsed = time.perf_counter() - start
    return n / elapsed, (_own_cpu() - cpu0) / n, os.getloadavg()[0]


def saturation(enc, url: str, pid: int, texts: list[str], args) -> tuple[list[float], list[float], list[str]]:
    """Alternating in-process / server rounds: (throughput ratios, CPU-per-item ratios, errors).

    The target compares with `embed` as a library user calls it (the encoder's default budget);
    in-process at the server's per-pass budget is measured too, so the gain of that budget is
    shown apart from the cost of serving."""
    from omnivec.server.models import forward_tokens

    per_pass = forward_tokens(enc, None)
    ratios, cpu_ratios, errors, same_budget = [], [], [], []
    for r in range(args.rounds):
        before, cpu_item, load_ip = in_process(enc, texts, args.seconds)
        at_budget, cpu_budget, _ = in_process(enc, texts, args.seconds, per_pass)
        passes0, items0 = batches(url)
        p = phase(url, pid, texts, args, search=False)
        passes1, items1 = batches(url)
        errors += p.errors
        served = p.items / p.elapsed
        ratios.append(served / before)
        same_budget.append(served / at_budget)
        srv_item = p.server_cpu / max(p.items, 1)
        cpu_ratios.append(cpu_item / srv_item)
        report(f"round {r + 1}: saturation, {args.clients} clients, embeddings only", p)
        n = max(passes1 - passes0, 1)
        print(f"  in-process {before:.1f} items/s (load {load_ip:.1f}); server {served:.1f} items/s; "
              f"ratio {ratios[-1]:.3f}; {n:.0f} shared forward passes, {(items1 - items0) / n:.1f} items each\n"
              f"  CPU per item: in-process {1000 * cpu_item:.1f} ms, server {1000 * srv_item:.1f} ms "
              f"(+ clients {1000 * p.client_cpu / max(p.items, 1):.2f} ms); "
              f"in-process / server {cpu_ratios[-1]:.3f}\n"
              f"  in-process at the server's {per_pass} tokens per pass: {at_budget:.1f} items/s, "
              f"{1000 * cpu_budget:.1f} ms CPU per item; server / that {same_budget[-1]:.3f}", flush=True)  # fmt: skip
    print(f"\nratio server / in-process at the server's budget of {per_pass} tokens per pass, median: "
          f"{statistics.median(same_budget):.3f} (each {', '.join(f'{x:.3f}' for x in same_budget)})")  # fmt: skip
    return ratios, cpu_ratios, errors


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
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    try:
        store = build_store(tmp)
        texts = corpus(tmp / "repo", args.texts)
        enc = load(texts)
        proc, url = start_server(store, tmp / "server.log")
        try:
            mixed = phase(url, proc.pid, texts, args, search=True)
            report(f"mixed load, {args.clients} clients", mixed)
            ratios, cpu_ratios, errors = saturation(enc, url, proc.pid, texts, args)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        print(f"\nratio server / in-process items/s, median of {len(ratios)} rounds: {statistics.median(ratios):.3f} "
              f"(each {', '.join(f'{x:.3f}' for x in ratios)}) target >= 0.90")  # fmt: skip
        print(f"ratio in-process / server CPU per item, median: {statistics.median(cpu_ratios):.3f} "
              f"(each {', '.join(f'{x:.3f}' for x in cpu_ratios)})")  # fmt: skip
        print(f"errors: {len(errors) + len(mixed.errors)} (target 0)")
        print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
