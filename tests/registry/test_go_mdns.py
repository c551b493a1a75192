"""Go interop over mDNS, both ways, inside a network namespace this test makes (never the root one):
Go's MDNSRegisterPlugin (grandcat/zeroconf) multicasts on every multicast interface and cannot be
bound to one, so the Go peer and the Python peer (tests/registry/mdns_peer.py) both run in a fresh
namespace holding nothing but ``lo`` (multicast on, plus 169.254.77.1/32: grandcat/zeroconf leaves
loopback addresses out of its A record and rpcx's plugin refuses to start without one).

A Go server registered by Go's plugin is found and called by a Python XClient and leaves the
Python list after Go's graceful stop; a Python server published by our plugin is listed and called
by Go's ``client.NewMDNSDiscovery`` and leaves Go's list after our graceful stop."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import AsyncIterator

import pytest

from rpcx.testing.harness import WAIT

from .test_go_interop import GOREGISTRY

PEER = str(Path(__file__).with_name("mdns_peer.py"))
LINK_LOCAL = "169.254.77.1"
SETUP = (
    f"ip link set lo up && ip link set lo multicast on && ip addr add {LINK_LOCAL}/32 dev lo"
    " && echo ready && exec sleep 600"  # the namespace lives as long as this process (killed by PID)
)


class Namespace:
    """A network namespace held by one process; commands join it with nsenter."""

    def __init__(self, holder: subprocess.Popen[bytes]) -> None:
        self.holder = holder
        self.path = f"/proc/{holder.pid}/ns/net"

    def argv(self, *cmd: str) -> list[str]:
        # the guard the whole test rests on: never let a Go mDNS peer into the root namespace
        assert os.readlink(self.path) != os.readlink("/proc/self/ns/net"), "not a separate network namespace"
        return ["nsenter", f"--net={self.path}", "--", *cmd]

    async def run(self, *cmd: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*cmd), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 3 * WAIT)  # over goregistry's own --wait
        assert proc.returncode == 0, f"{' '.join(cmd)} failed in the namespace: {err.decode()}"
        return out.decode()

    async def start(self, *cmd: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self.argv(*cmd), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )


@pytest.fixture
async def netns() -> AsyncIterator[Namespace]:
    missing = [tool for tool in ("unshare", "nsenter", "ip") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        pytest.skip(f"cannot make a network namespace here: {'not root' if os.geteuid() else 'no ' + ', '.join(missing)}")
    if not GOREGISTRY.exists():
        pytest.fail(f"{GOREGISTRY} is missing: run tests/interop/build.sh (make test does)")
    holder = subprocess.Popen(["unshare", "-n", "sh", "-c", SETUP], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), WAIT)
        if line != b"ready\n":
            holder.wait(WAIT)
            assert holder.stderr is not None
            err = holder.stderr.read().decode()
            if "unshare" in err and "Operation not permitted" in err:
                pytest.skip(f"cannot make a network namespace here: {err.strip()}")
            pytest.fail(f"namespace setup failed: {err}")
        ns = Namespace(holder)
        links = await ns.run("ip", "-o", "link")
        assert [ln.split(":")[1].strip() for ln in links.splitlines()] == ["lo"], links  # nothing to leak onto
        yield ns
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), WAIT)).decode().strip()


async def _reap(*procs: asyncio.subprocess.Process) -> None:
    for p in procs:
        if p.returncode is None:
            p.kill()
            await p.wait()


async def test_python_xclient_finds_a_go_mdns_server(netns: Namespace) -> None:
    go = await netns.start(str(GOREGISTRY), "server", "--registry", "mdns://", "--interval", "1s",
                           "--metadata", "weight=2&group=a")
    py = None
    try:
        serving, address = (await _line(go)).split()
        assert serving == "serving"
        py = await netns.start(sys.executable, PEER, "discover")
        assert await _line(py) == f"found {address} weight=2&group=a"  # Go's TXT, as we decode it
        # Go's A record: lo's link-local address (grandcat/zeroconf leaves 127.0.0.1 out); the
        # TXT's service_address, not the A record, is what both discoveries dial
        assert await _line(py) == f"a-record {LINK_LOCAL}"
        assert await _line(py) == "C=42"
        go.send_signal(signal.SIGTERM)  # Shutdown (Unregister empties the TXT), then Stop (goodbye)
        assert await asyncio.wait_for(go.wait(), WAIT) == 0
        assert await _line(py) == "gone"
        assert await asyncio.wait_for(py.wait(), WAIT) == 0
    finally:
        await _reap(go, *([py] if py else []))


async def test_go_xclient_finds_a_python_mdns_server(netns: Namespace) -> None:
    py = await netns.start(sys.executable, PEER, "serve", "weight=3&group=b")
    try:
        address = await _line(py)
        assert address.startswith("tcp@127.0.0.1:")
        # --wait: a query in the second after our announcement goes unanswered (RFC 6762 §6, which
        # python-zeroconf keeps) and grandcat/zeroconf asks again only after 4 s; Go's discovery then
        # finds the server at its watch's next browse, which --wait waits for (bounded)
        go = (str(GOREGISTRY), "--registry", "mdns://", "--timeout", "1s")
        listed = await netns.run(go[0], "list", *go[1:], "--wait", f"{WAIT}s")
        assert listed == f"{address} weight=3&group=b\nend\n"
        assert await netns.run(go[0], "call", *go[1:], "--wait", f"{WAIT}s", "--a", "6", "--b", "7") == "C=42\n"
        assert py.stdin is not None
        py.stdin.write(b"stop\n")
        assert await _line(py) == "stopped"
        assert await netns.run(go[0], "list", *go[1:]) == "end\n"  # gone from Go's discovery
        assert await asyncio.wait_for(py.wait(), WAIT) == 0
    finally:
        await _reap(py)
