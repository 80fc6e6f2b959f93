"""Start and stop a Milvus standalone server from the `milvus` PyPI package, on loopback.

`python -m tests.scale.milvus_standalone DIR` starts one in the foreground (Ctrl-C stops it);
tests use `MilvusStandalone(DIR)` as a context manager. The package's own `MilvusServer` binds
ports by probing them and resolves the component addresses from the first network interface;
this helper renders the package's config template itself with every component's advertised
address and etcd on 127.0.0.1, starts the binary as a child it owns (stopped by that PID), and
waits for `/healthz` with a deadline instead of sleeping.

Ports: every port, the embedded etcd's peer port included (fixed at 2380 by etcd's defaults
otherwise), is one the kernel handed out just before the start, so two servers on one machine
(two CI jobs, two developers) do not collide; a start that loses a port race is retried on new
ports. Milvus 2.3's gRPC servers listen on every interface whatever the config says (only the
advertised address is configurable): `make test-milvus` therefore runs the tests in a private
network namespace where loopback is the only interface, when the machine allows one.
The server dies with the process that started it (PR_SET_PDEATHSIG), so a test run killed by a
timeout leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
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
START_ATTEMPTS = 3  # a start fails when another process takes one of its ports first
PR_SET_PDEATHSIG = 1
# Settings for a small test server on a busy machine (keys of the package's config template).
# A Strong read waits until the query node has seen a time tick past the read's timestamp: ticks
# every 50 ms instead of 200 ms shorten each read; 4 DML channels instead of 16 cut the ticking.
TEST_TUNING = {
    "proxy.timeTickInterval": "50",
    "rootCoord.dmlChannelNum": "4",
    "queryCoord.checkInterval": "200",
    "queryCoord.distPullInterval": "100",
}


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """`n` distinct ports the kernel had free a moment ago (all held until all are chosen)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent (the test process) dies. Not SIGTERM:
    a 2.3.5 server that has run for a while can hang in its graceful shutdown."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _etcd_config(path: Path, client_port: int, peer_port: int, data_dir: str) -> Path:
    """An embedded-etcd config (Milvus' `etcd.config.path`): client and peer URLs on loopback."""
    peer, client = f"http://127.0.0.1:{peer_port}", f"http://127.0.0.1:{client_port}"
    path.write_text(
        f"name: default\ndata-dir: {data_dir}\nlisten-client-urls: {client}\nadvertise-client-urls: {client}\n"
        f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\ninitial-cluster: default={peer}\n"
    )
    return path


class MilvusStandalone:
    """A Milvus standalone server in `base_dir`, serving gRPC on 127.0.0.1:`port`."""

    def __init__(
        self, base_dir: Path, deadline_s: float = START_DEADLINE_S, tuning: dict[str, str] | None = None
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.tuning = TEST_TUNING if tuning is None else tuning
        self.deadline_s = deadline_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.health_port = 0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> tuple[str, dict[str, str]]:
        import milvus  # the `milvus` PyPI package: the server binary and its config template

        probe = milvus.MilvusServerConfig(data_dir=str(self.base_dir))
        keys = sorted(k for k in probe.configurable_items if k.endswith("_port"))
        *ports, peer_port, self.health_port = free_ports(len(keys) + 2)
        cfg = milvus.MilvusServerConfig(data_dir=str(self.base_dir), **dict(zip(keys, ports)))
        cfg.resolve()  # checks the ports given above and fills the paths
        cfg.cleanup_listen_ports()
        for comp in COMPONENTS:
            cfg.set(f"{comp}.ip", "127.0.0.1")
        etcd_port = int(cfg.get("etcd_port"))
        cfg.set("etcd.endpoints", f"127.0.0.1:{etcd_port}")
        cfg.set("minio.address", "127.0.0.1")
        cfg.set("common.security.authorizationEnabled", "false")
        for key, value in self.tuning.items():
            cfg.set(key, value)
        cfg.write_config()
        self._add_etcd_config(Path(cfg.base_data_dir), etcd_port, peer_port, str(cfg.get("etcd_data_dir")))
        milvus._initialize_data_files(cfg.base_data_dir)
        self.port = int(cfg.get("proxy_port"))
        exe = os.path.join(cfg.base_data_dir, "bin", "milvus")
        env = {**os.environ, "DEPLOY_MODE": "STANDALONE", "METRICS_PORT": str(self.health_port),
               "MILVUS_RUN_DIR": os.path.join(cfg.base_data_dir, "run"),
               "LD_LIBRARY_PATH": os.path.dirname(exe) + ":" + os.environ.get("LD_LIBRARY_PATH", "")}  # fmt: skip
        return exe, env

    @staticmethod
    def _add_etcd_config(base: Path, client_port: int, peer_port: int, data_dir: str) -> None:
        """Point the rendered milvus.yaml at an etcd config of our own (the template has no key
        for it, and the package's renderer only replaces keys the template has)."""
        etcd_yaml = _etcd_config(base / "configs" / "embed-etcd.yaml", client_port, peer_port, data_dir)
        milvus_yaml = base / "configs" / "milvus.yaml"
        text = milvus_yaml.read_text()
        assert "\netcd:\n" in text, "the milvus config template changed: no top-level etcd section"
        milvus_yaml.write_text(text.replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd_yaml}\n", 1))

    def start(self) -> MilvusStandalone:
        """Start and wait until healthy; on any failure (or an interrupt) the server is stopped."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._launch()
                self._wait_healthy()
                return self
            except BaseException as exc:
                self.stop()
                lost_race = isinstance(exc, RuntimeError) and "address already in use" in str(exc)
                if not lost_race or attempt == START_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        exe, env = self._config()
        logs = self.base_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / "stdout.log", "wb") as out, open(logs / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen(
                [exe, "run", "standalone"], cwd=self.base_dir, env=env, stdout=out, stderr=err,
                # the child only calls prctl between fork and exec; the server starts before tests run
                start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509
            )  # fmt: skip

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.deadline_s
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                logs = [
                    (self.base_dir / "logs" / n).read_text(errors="replace")
                    for n in ("stderr.log", "stdout.log")
                ]
                raise RuntimeError(
                    f"milvus exited with {self.proc.returncode}: {logs[0][-2000:]} {logs[1][-2000:]}"
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200 and b"OK" in resp.read():
                    return
            time.sleep(0.5)  # a poll interval, not a wait for readiness
        raise TimeoutError(f"milvus not healthy on {url} within {self.deadline_s:.0f} s")

    def stop(self) -> None:
        """SIGTERM the server (by its PID), SIGKILL it if it has not exited within 5 s (a 2.3.5
        server that has run a while can hang in its graceful shutdown; its data is throwaway)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
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
