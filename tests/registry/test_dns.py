"""DNS discovery against a real DNS server: dnsmasq on a free loopback port, answering from a hosts
file the test rewrites (re-read on SIGHUP), as a zone's owner would change its records."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

from rpcx.client.discovery import KVPair
from rpcx.registry.base import RegistryUnavailableError
from rpcx.registry.dns import DNSDiscovery
from rpcx.testing.registry_conformance import free_port
from rpcx.testing.harness import WAIT
from .conftest import START_WAIT, _need


class Dnsmasq:
    """dnsmasq serving ``svc.test`` from a hosts file; :meth:`set_hosts` rewrites it and sends SIGHUP."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.hosts = os.path.join(workdir, "hosts")
        self.proc: subprocess.Popen[bytes] | None = None

    def set_hosts(self, lines: list[str]) -> None:
        with open(self.hosts + ".tmp", "w") as f:
            f.write("".join(f"{line}\n" for line in lines))
        os.replace(self.hosts + ".tmp", self.hosts)
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGHUP)  # dnsmasq re-reads --addn-hosts on SIGHUP

    def start(self) -> None:
        # Debian puts it in /usr/sbin, which a non-root PATH may lack
        binary = _need("dnsmasq" if shutil.which("dnsmasq") else "/usr/sbin/dnsmasq", "dnsmasq-base")
        argv = [binary, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--pid-file=", "--log-facility=-", f"--port={self.port}", "--listen-address=127.0.0.1",
                "--bind-interfaces", f"--addn-hosts={self.hosts}", "--local=/test/", "--local-ttl=0"]
        if os.geteuid() == 0:
            argv.append("--user=root")  # else it drops to nobody, who cannot read our temp dir
        log = open(os.path.join(self.workdir, "dnsmasq.log"), "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_WAIT
        while True:  # ready once it accepts DNS over TCP on its port
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    with open(os.path.join(self.workdir, "dnsmasq.log"), "rb") as f:
                        pytest.fail(f"dnsmasq did not start:\n{f.read()[-2000:].decode(errors='replace')}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


@pytest.fixture
def dnsmasq() -> Iterator[Dnsmasq]:
    with tempfile.TemporaryDirectory(prefix="rpcx-dns-") as workdir:
        server = Dnsmasq(workdir)
        # (a rewrite after start is re-read asynchronously: only watches may depend on one)
        server.set_hosts(["127.0.0.1 svc.test", "127.0.0.3 other.test",
                          "127.0.0.2 many.test", "127.0.0.1 many.test", "::1 many.test"])
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _open(server: Dnsmasq, name: str = "svc.test", interval: float = 0.05, **kw: object) -> "asyncio.Future[DNSDiscovery]":
    return asyncio.ensure_future(
        DNSDiscovery.open(name, "tcp", 8972, interval, nameservers=["127.0.0.1"], nameserver_port=server.port, **kw)  # type: ignore[arg-type]
    )


async def test_resolves_a_records_to_go_keys(dnsmasq: Dnsmasq) -> None:
    d = await _open(dnsmasq, "many.test")
    assert d.get_services() == [KVPair("tcp@127.0.0.1:8972"), KVPair("tcp@127.0.0.2:8972"), KVPair("tcp@::1:8972")]
    other = await _open(dnsmasq, "other.test")
    assert other.get_services() == [KVPair("tcp@127.0.0.3:8972")]


async def test_watch_sees_the_records_change(dnsmasq: Dnsmasq) -> None:
    d = await _open(dnsmasq)
    assert d.get_services() == [KVPair("tcp@127.0.0.1:8972")]
    watch = d.watch()
    try:
        dnsmasq.set_hosts(["127.0.0.1 svc.test", "127.0.0.2 svc.test"])
        got = await asyncio.wait_for(watch.__anext__(), WAIT)
        assert got == [KVPair("tcp@127.0.0.1:8972"), KVPair("tcp@127.0.0.2:8972")]
        dnsmasq.set_hosts(["127.0.0.2 svc.test"])
        got = await asyncio.wait_for(watch.__anext__(), WAIT)
        assert got == [KVPair("tcp@127.0.0.2:8972")]
        assert d.get_services() == got
    finally:
        await watch.aclose()
        await d.aclose()


async def test_unknown_name_is_a_clear_error_at_start(dnsmasq: Dnsmasq) -> None:
    with pytest.raises(RegistryUnavailableError, match="nosuch.test"):
        await _open(dnsmasq, "nosuch.test")


async def test_no_server_is_a_clear_error_at_start() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(RegistryUnavailableError, match=f"127.0.0.1:{port}"):
        await DNSDiscovery.open("svc.test", "tcp", 8972, 1.0, nameservers=["127.0.0.1"], nameserver_port=port, timeout=0.5)


async def test_a_failed_lookup_keeps_the_last_list(dnsmasq: Dnsmasq) -> None:
    d = await _open(dnsmasq, timeout=0.3)
    dnsmasq.stop()
    with pytest.raises(RegistryUnavailableError):
        await d.refresh()
    assert d.get_services() == [KVPair("tcp@127.0.0.1:8972")]
    # the name losing its records is a failed lookup too: Go keeps the list then as well
    dnsmasq.set_hosts([])
    dnsmasq.start()
    with pytest.raises(RegistryUnavailableError):
        await d.refresh()
    assert d.get_services() == [KVPair("tcp@127.0.0.1:8972")]


async def test_xclient_follows_the_name(dnsmasq: Dnsmasq) -> None:
    from arith_service import Args, Arith, Reply

    from rpcx import Server
    from rpcx.client import FailMode, SelectMode, XClient

    server = Server()
    server.register(Arith(), "", name="Arith")
    addr = await server.start("tcp@127.0.0.1:0")
    port = int(addr.rpartition(":")[2])
    d = await DNSDiscovery.open("svc.test", "tcp", port, 0.05, nameservers=["127.0.0.1"], nameserver_port=dnsmasq.port)
    try:
        async with XClient("Arith", FailMode.FAILOVER, SelectMode.RANDOM, d) as xc:
            assert await xc.call("Mul", Args(6, 7), Reply, timeout=WAIT) == Reply(42)
    finally:
        await d.aclose()
        await server.shutdown(timeout=1)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        DNSDiscovery("svc.test", "tcp", 0)
    with pytest.raises(ValueError):
        DNSDiscovery("svc.test", "tcp", 8972, interval=0)
