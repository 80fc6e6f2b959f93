"""Start `omnivec serve` for real (a subprocess on 127.0.0.1), wait for /healthz, stop it by PID."""

from __future__ import annotations

import base64
import io
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.index.conftest import make_repo

SRC = str(Path(__file__).resolve().parents[2] / "src")
START_DEADLINE_S = 120.0


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OMNIVEC_API_KEY", None)  # a key in the developer's shell must not change the tests
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH", "")) if p)
    return env


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    log: Path

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_server(
    args: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    key: str | None = None,
    module: str = "omnivec",
) -> Server:
    """Start the server on a free port; returns once /healthz answers (or fails with its log).
    `module` runs the CLI through a wrapper such as tests/index/fault_runner.py."""
    cmd = [sys.executable, "-m", module, "serve", "--port", "0", *args]
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env or child_env())
    deadline = time.monotonic() + START_DEADLINE_S
    server = Server(proc, _read_url(proc, deadline, log), log)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.url + "/healthz", headers=headers, timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"server did not become healthy; log:\n{log.read_text()[-3000:]}")


def _read_url(proc: subprocess.Popen[str], deadline: float, log: Path) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            if sel.select(timeout=0.2):
                line = proc.stdout.readline()
                if line.startswith("omnivec serving on "):
                    return line.split()[-1].strip()
                if not line and proc.poll() is not None:
                    break
            elif proc.poll() is not None:
                break
    finally:
        sel.close()
    proc.kill()
    proc.wait()
    raise AssertionError(f"server did not print its address; log:\n{log.read_text()[-3000:]}")


def png_bytes(size: tuple[int, int] = (8, 8), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def error_of(resp: httpx.Response) -> dict:
    """The OpenAI error object; asserts the shape."""
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


def build_store(tmp: Path, *, images: bool = False, writable_copy: bool = False) -> Path:
    """The index fixture repo (plus two images and an image-only PDF when `images`), fake model."""
    from omnivec.api import Index

    repo = make_repo(tmp / "repo")
    if images:
        from PIL import Image

        (repo / "pics").mkdir()
        Image.new("RGB", (64, 48), (10, 120, 200)).save(repo / "pics" / "blue.png")
        Image.new("RGB", (64, 48), (220, 40, 40)).save(repo / "pics" / "red.png")
        Image.new("RGB", (300, 400), (255, 255, 255)).save(repo / "scan.pdf")  # no text layer
    model = "omnivec/fake" if images else None
    with Index.create(
        repo, tmp / "store", text_model="omnivec/fake", image_model=model, screenshot_model=model
    ) as idx:
        idx.update(use_cache=False)
    return tmp / "store"


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")
