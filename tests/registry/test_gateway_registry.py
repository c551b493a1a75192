"""``rpcx gateway --registry URL``, per real registry: the standalone gateway finds the servers of
each service path through the registry (one discovery per path, cloned from one registry
connection, as rpcxio/rpcx-gateway does) and answers HTTP invoke with their replies; an
unreachable registry is a one-line error at start."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from rpcx.testing.harness import WAIT
from rpcx.testing.registry_conformance import RegistryCase, free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "arith"


async def _http_mul(port: int, a: int, b: int) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"A":%d,"B":%d}' % (a, b)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nX-RPCX-SerializeType: 1\r\nX-RPCX-ServicePath: Arith\r\n"
                 b"X-RPCX-ServiceMethod: Mul\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    status, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {n.lower(): v.strip() for n, _, v in (line.partition(":") for line in lines)}
    payload = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), WAIT)
    writer.close()
    return int(status.split()[1]), payload


async def test_gateway_routes_through_the_registry(registry_case: RegistryCase) -> None:
    base = registry_case.base_path()
    reg = ("--registry", registry_case.url, "--base-path", base)
    server = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "server.py"), "tcp@127.0.0.1:0", *reg, stdout=asyncio.subprocess.PIPE
    )
    gateway = None
    try:
        assert server.stdout is not None
        line = (await asyncio.wait_for(server.stdout.readline(), WAIT * 2)).decode()
        assert line.startswith("serving tcp@127.0.0.1:"), line
        port = free_port()
        gateway = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rpcx", "gateway", f"tcp@127.0.0.1:{port}", *reg, "--timeout", "5",
            stdout=asyncio.subprocess.PIPE,
        )
        assert gateway.stdout is not None
        line = (await asyncio.wait_for(gateway.stdout.readline(), WAIT * 2)).decode()
        assert line == f"serving tcp@127.0.0.1:{port}\n", line
        # concurrent first requests share the one first listing of Arith's servers
        answers = await asyncio.gather(*(_http_mul(port, 10, i) for i in range(1, 6)))
        assert answers == [(200, b'{"C":%d}' % (10 * i)) for i in range(1, 6)]
        gateway.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(gateway.wait(), WAIT * 2) == 0
    finally:
        for proc in (server, gateway):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_unreachable_registry_is_a_one_line_error() -> None:
    dead = free_port()  # nothing listens there
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rpcx", "gateway", "tcp@127.0.0.1:0", "--registry", f"redis://127.0.0.1:{dead}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT * 3)
    text = err.decode()
    assert proc.returncode == 1 and out == b"", (proc.returncode, out, text)
    assert text.startswith(f"rpcx gateway: cannot use registry redis://127.0.0.1:{dead}"), text
    assert len(text.strip().splitlines()) == 1 and "Traceback" not in text, text
