"""The Arith examples with ``--registry``, per real registry: ``server.py ... --registry URL``
publishes itself, ``client.py - --registry URL`` finds and calls it, and after the server's SIGTERM
the client finds no server. The same over mDNS (both examples inside a network namespace of the
test's own, so no other run's "Arith" on this machine is seen) and DNS (a real dnsmasq; DNS is
read-only, so only the client takes it)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from rpcx.testing.harness import WAIT
from rpcx.testing.registry_conformance import RegistryCase

from .netns import Namespace, netns  # noqa: F401 - netns is a fixture
from .test_dns import Dnsmasq, dnsmasq  # noqa: F401 - dnsmasq is a fixture

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "arith"


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT * 2)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_examples_through_the_registry(registry_case: RegistryCase) -> None:
    base = registry_case.base_path()
    reg = ("--registry", registry_case.url, "--base-path", base)
    server = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "server.py"), "tcp@127.0.0.1:0", *reg, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        line = (await asyncio.wait_for(server.stdout.readline(), WAIT * 2)).decode()
        assert line.startswith("serving tcp@127.0.0.1:"), line
        assert await run(str(EXAMPLES / "client.py"), "-", *reg) == (0, "10 * 20 = 200\n", "")
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), WAIT * 2) == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    code, out, err = await run(str(EXAMPLES / "client.py"), "-", *reg)
    assert (code, out) == (1, "") and err.startswith(f"client.py: Arith.Mul at {registry_case.url}: "), err


async def test_client_usage_errors() -> None:
    code, _, err = await run(str(EXAMPLES / "client.py"), "-")
    assert code == 2 and "give a server address, or - with --registry" in err
    code, _, err = await run(str(EXAMPLES / "client.py"), "-", "--registry", "ftp://127.0.0.1:1")
    assert code == 1 and "unknown registry scheme 'ftp'" in err, err


async def test_examples_over_mdns(netns: Namespace) -> None:
    reg = ("--registry", "mdns://127.0.0.1?timeout=0.3")
    server = await netns.start(sys.executable, str(EXAMPLES / "server.py"), "tcp@127.0.0.1:0", *reg)
    client = (sys.executable, str(EXAMPLES / "client.py"), "-", *reg, "--timeout", str(WAIT))
    try:
        assert server.stdout is not None
        line = (await asyncio.wait_for(server.stdout.readline(), WAIT * 2)).decode()
        assert line.startswith("serving tcp@127.0.0.1:"), line
        assert await netns.status(*client) == (0, "10 * 20 = 200\n", "")
        server.send_signal(signal.SIGTERM)  # its plugin's aclose sends the goodbye
        assert await asyncio.wait_for(server.wait(), WAIT * 2) == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    code, out, err = await netns.status(*client[:-1], "1")  # browses for 1 s, finds nobody
    assert (code, out) == (1, "") and err.startswith("client.py: Arith.Mul at mdns://127.0.0.1"), err


async def test_examples_over_dns(dnsmasq: Dnsmasq) -> None:
    server = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "server.py"), "tcp@127.0.0.1:0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        line = (await asyncio.wait_for(server.stdout.readline(), WAIT * 2)).decode()
        port = line.strip().rpartition(":")[2]
        url = f"dns://127.0.0.1:{dnsmasq.port}/svc.test?port={port}"  # svc.test: A 127.0.0.1
        assert await run(str(EXAMPLES / "client.py"), "-", "--registry", url) == (0, "10 * 20 = 200\n", "")
        code, _, err = await run(str(EXAMPLES / "client.py"), "-", "--registry", url.replace("svc.test", "nosuch.test"))
        assert code == 1 and "cannot use registry" in err and "nosuch.test" in err, err
    finally:
        server.kill()
        await server.wait()
    # DNS is read-only: the server refuses it, with one line
    code, out, err = await run(str(EXAMPLES / "server.py"), "tcp@127.0.0.1:0", "--registry", url)
    assert (code, out) == (1, "") and "dns:// is read-only" in err, err
