"""Real registry servers for the registry tests, started on free loopback ports in temp dirs and
stopped by PID (commands and readiness probes from the project's real-servers notes).

A missing server binary FAILS the test, naming the Debian package: `.ci/run` and `make test`
install them (``apt-get install -y --no-install-recommends redis-server etcd-server zookeeper``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, Iterator

import pytest

from rpcx.testing.registry_conformance import RegistryCase, RegistryServer, free_port

#: a hang guard for a server's start, not a speed check
START_WAIT = 30.0


def _need(binary: str, package: str) -> str:
    path = shutil.which(binary) or (binary if os.path.exists(binary) else None)
    if path is None:
        pytest.fail(
            f"{binary} not found: install the Debian package {package!r} "
            f"(apt-get install -y --no-install-recommends {package}; .ci/run does this)"
        )
    return path


class ServerProcess(RegistryServer):
    """One registry server process: ``start()`` launches it and waits for its probe, ``stop()``
    kills it by PID. Restartable on the same port and data directory."""

    def __init__(self, scheme: str, port: int, argv: list[str], probe: Callable[[], bool], workdir: str) -> None:
        self.url = f"{scheme}://127.0.0.1:{port}"
        self.port = port
        self.argv = argv
        self.probe = probe
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start_sync(self) -> None:
        log = open(os.path.join(self.workdir, "server.log"), "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + START_WAIT
        while not self.probe():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop_sync()
                with open(os.path.join(self.workdir, "server.log"), "rb") as f:
                    tail = f.read()[-2000:].decode(errors="replace")
                pytest.fail(f"{self.argv[0]} did not start on port {self.port}:\n{tail}")
            time.sleep(0.05)

    def stop_sync(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    async def start(self) -> None:
        await asyncio.to_thread(self.start_sync)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)


def _ask(port: int, request: bytes, expect: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(request)
            got = b""
            while expect not in got and len(got) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            return expect in got
    except OSError:
        return False


# -- Redis -----------------------------------------------------------------------------------------
def redis_server(workdir: str) -> ServerProcess:
    binary = _need("redis-server", "redis-server")
    port = free_port()
    # an append-only file, so that a restart (the outage tests) keeps the keys, as a production
    # Redis would
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--dir", workdir, "--daemonize", "no"]
    return ServerProcess("redis", port, argv, lambda: _ask(port, b"PING\r\n", b"+PONG"), workdir)


# -- etcd ------------------------------------------------------------------------------------------
def etcd_server(workdir: str) -> ServerProcess:
    binary = _need("etcd", "etcd-server")
    port, peer, metrics = free_port(), free_port(), free_port()
    client_url, peer_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
    # all four URLs, or etcd also binds its default ports
    argv = [binary, "--name", "rpcxtest", "--data-dir", os.path.join(workdir, "etcd"),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"rpcxtest={peer_url}", "--listen-metrics-urls", f"http://127.0.0.1:{metrics}"]
    probe = lambda: _ask(port, b"GET /health HTTP/1.0\r\n\r\n", b'"health":"true"')  # noqa: E731
    return ServerProcess("etcd", port, argv, probe, workdir)


# -- ZooKeeper -------------------------------------------------------------------------------------
ZK_JARS = ["/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"]


def zookeeper_server(workdir: str) -> ServerProcess:
    java = _need("java", "default-jre-headless")
    _need(ZK_JARS[0], "zookeeper")
    port = free_port()
    conf = os.path.join(workdir, "conf")
    os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, "zoo.cfg"), "w") as f:
        # tickTime 500 ms: sessions may be as short as 1 s (2 ticks), for the TTL checks
        f.write(f"tickTime=500\ndataDir={workdir}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
                "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat\n")
    with open(os.path.join(conf, "log4j.properties"), "w") as f:
        f.write("log4j.rootLogger=WARN, CONSOLE\nlog4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n"
                "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n"
                "log4j.appender.CONSOLE.layout.ConversionPattern=%d %p %c: %m%n\n")
    argv = [java, "-Xmx256m", f"-Dzookeeper.log.dir={workdir}", "-cp", ":".join([conf, *ZK_JARS]),
            "org.apache.zookeeper.server.ZooKeeperServerMain", os.path.join(conf, "zoo.cfg")]
    # ready when `srvr` reports a mode: `ruok` answers imok before the server takes sessions
    return ServerProcess("zookeeper", port, argv, lambda: _ask(port, b"srvr", b"Mode: standalone"), workdir)


# -- fixtures --------------------------------------------------------------------------------------
FACTORIES: dict[str, Callable[[str], ServerProcess]] = {
    "redis": redis_server,
    "etcd": etcd_server,
    "zookeeper": zookeeper_server,
}


@asynccontextmanager
async def _private(factory: Callable[[str], ServerProcess]) -> AsyncIterator[RegistryServer]:
    with tempfile.TemporaryDirectory(prefix="rpcx-reg-") as workdir:
        server = factory(workdir)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


#: per-backend options for the checks (short liveness for the TTL checks)
OPTIONS: dict[str, dict[str, object]] = {"redis": {}, "etcd": {}, "zookeeper": {}}


@pytest.fixture(scope="session", params=sorted(FACTORIES))
def registry_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """The session's shared server of each backend (every test using it runs once per backend)."""
    name = request.param
    with tempfile.TemporaryDirectory(prefix=f"rpcx-{name}-") as workdir:
        server = FACTORIES[name](workdir)
        server.start_sync()
        try:
            yield server
        finally:
            server.stop_sync()


@pytest.fixture
def registry_case(registry_server: ServerProcess) -> RegistryCase:
    scheme = registry_server.url.split("://", 1)[0]
    return RegistryCase(
        url=registry_server.url,
        private=lambda: _private(FACTORIES[scheme]),
        options=dict(OPTIONS[scheme]),
    )
