"""The Arith examples with ``--registry``, per real registry: ``server.py ... --registry URL``
publishes itself, ``client.py - --registry URL`` finds and calls it, and after the server's SIGTERM
the client finds no server."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from rpcx.testing.harness import WAIT
from rpcx.testing.registry_conformance import RegistryCase

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
