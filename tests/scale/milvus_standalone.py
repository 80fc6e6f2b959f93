"""Start and stop a Milvus standalone server from the `milvus` PyPI package, on loopback.

`python -m tests.scale.milvus_standalone DIR` starts one in the foreground (Ctrl-C stops it);
tests use `MilvusStandalone(DIR)` as a context manager. The package's own `MilvusServer` binds
ports by probing them and resolves the component addresses from the first network interface;
this helper renders the package's config template itself with every component's advertised
address and etcd on 127.0.0.1, starts the binary as a child it owns (stopped by that PID), and
waits for `/healthz` with a deadline instead of sleeping.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")
START_DEADLINE_S = 240.0


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MilvusStandalone:
    """A Milvus standalone server in `base_dir`, serving gRPC on 127.0.0.1:`port`."""

    def __init__(self, base_dir: Path, deadline_s: float = START_DEADLINE_S) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.deadline_s = deadline_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.health_port = 0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> tuple[str, dict[str, str]]:
        import milvus  # the `milvus` PyPI package: the server binary and its config template

        cfg = milvus.MilvusServerConfig(data_dir=str(self.base_dir))
        cfg.resolve()  # probes ports on 127.0.0.1 and fills paths; we take the ports it chose
        cfg.cleanup_listen_ports()
        for comp in COMPONENTS:
            cfg.set(f"{comp}.ip", "127.0.0.1")
        cfg.set("etcd.endpoints", f"127.0.0.1:{cfg.get('etcd_port')}")
        cfg.set("minio.address", "127.0.0.1")
        cfg.set("common.security.authorizationEnabled", "false")
        cfg.write_config()
        milvus._initialize_data_files(cfg.base_data_dir)
        self.port = int(cfg.get("proxy_port"))
        self.health_port = free_port()
        exe = os.path.join(cfg.base_data_dir, "bin", "milvus")
        env = {**os.environ, "DEPLOY_MODE": "STANDALONE", "METRICS_PORT": str(self.health_port),
               "MILVUS_RUN_DIR": os.path.join(cfg.base_data_dir, "run"),
               "LD_LIBRARY_PATH": os.path.dirname(exe) + ":" + os.environ.get("LD_LIBRARY_PATH", "")}  # fmt: skip
        return exe, env

    def start(self) -> MilvusStandalone:
        exe, env = self._config()
        logs = self.base_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / "stdout.log", "wb") as out, open(logs / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen(
                [exe, "run", "standalone"], cwd=self.base_dir, env=env, stdout=out, stderr=err,
                start_new_session=True,
            )  # fmt: skip
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.deadline_s
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = (self.base_dir / "logs" / "stderr.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"milvus exited with {self.proc.returncode}: {tail}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200 and b"OK" in resp.read():
                    return
            time.sleep(0.5)  # a poll interval, not a wait for readiness
        self.stop()
        raise TimeoutError(f"milvus not healthy on {url} within {self.deadline_s:.0f} s")

    def stop(self) -> None:
        """SIGTERM the server (by its PID), SIGKILL it if it has not exited within 20 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> MilvusStandalone:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()


if __name__ == "__main__":
    with MilvusStandalone(Path(sys.argv[1])) as server:
        print(f"milvus standalone pid {server.proc.pid if server.proc else '?'} at {server.uri}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            assert server.proc is not None
            server.proc.wait()
