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
import signal
import sys
from pathlib import Path

import pytest

from rpcx.testing.harness import WAIT

from .netns import LINK_LOCAL, Namespace, netns  # noqa: F401 - netns is a fixture
from .test_go_interop import GOREGISTRY

PEER = str(Path(__file__).with_name("mdns_peer.py"))


@pytest.fixture
def goregistry() -> str:
    if not GOREGISTRY.exists():
        pytest.fail(f"{GOREGISTRY} is missing: run tests/interop/build.sh (make test does)")
    return str(GOREGISTRY)


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), WAIT)).decode().strip()


async def _reap(*procs: asyncio.subprocess.Process) -> None:
    for p in procs:
        if p.returncode is None:
            p.kill()
            await p.wait()


async def test_python_xclient_finds_a_go_mdns_server(netns: Namespace, goregistry: str) -> None:
    go = await netns.start(goregistry, "server", "--registry", "mdns://", "--interval", "1s",
                           "--metadata", "weight=2&group=a")
    py = None
    try:
        serving, address = (await _line(go)).split()
        assert serving == "serving"
        py = await netns.start(sys.executable, PEER, "discover")
        found, key, metadata = (await _line(py)).split()
        # Go's TXT, as we decode it: the first one has the metadata as registered, and the plugin's
        # refresh (every --interval) re-encodes it sorted (url.Values.Encode), so either order
        assert (found, key) == ("found", address) and metadata in ("weight=2&group=a", "group=a&weight=2")
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


async def test_go_xclient_finds_a_python_mdns_server(netns: Namespace, goregistry: str) -> None:
    py = await netns.start(sys.executable, PEER, "serve", "weight=3&group=b")
    try:
        address = await _line(py)
        assert address.startswith("tcp@127.0.0.1:")
        # --wait: a query in the second after our announcement goes unanswered (RFC 6762 §6, which
        # python-zeroconf keeps) and grandcat/zeroconf asks again only after 4 s; Go's discovery then
        # finds the server at its watch's next browse, which --wait waits for (bounded)
        go = (goregistry, "--registry", "mdns://", "--timeout", "1s")
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
