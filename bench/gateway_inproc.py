"""The gateway's user-space cost per request, without sockets: requests as Go's HTTP client sends
them are fed straight to a gateway connection (httptools or h11) whose transport only collects the
answers.

    .venv/bin/python bench/gateway_inproc.py [--parser httptools|h11] [--n 50000] [--profile]

What it prints is the Python side of a gateway call (HTTP parsing, HTTP invoke or JSON-RPC, the
dispatch path, the JSON codec, the answer's head): the part of bench/gateway.py's server CPU per
call that is not the event loop's and the kernel's (bench/http_floor.py measures those). It is
measured in this process's CPU time (``time.process_time``), which a shared machine distorts less
than wall time, though not nothing. ``--profile`` adds cProfile's top
functions (cProfile inflates Python-heavy code: read the shares).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "arith"))

from arith import Arith  # noqa: E402

from rpcx import Server  # noqa: E402
from rpcx.gateway import Gateway  # noqa: E402

INVOKE = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 13\r\n"
          b"X-Rpcx-Serializetype: 1\r\nX-Rpcx-Servicemethod: Mul\r\nX-Rpcx-Servicepath: Arith\r\n"
          b"Accept-Encoding: gzip\r\n\r\n" b'{"A":7,"B":8}')
JSONRPC = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 68\r\n"
           b"X-Jsonrpc-2.0: true\r\nAccept-Encoding: gzip\r\n\r\n"
           b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":7,"B":8},"id":1}')


class Collect(asyncio.Transport):
    """A transport that keeps what is written (and forgets it when asked)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


async def measure(parser: str, n: int, profile: bool) -> None:
    server = Server()
    server.register_name("Arith", Arith())
    gateway = Gateway(server.handle_message, http_invoke=True, jsonrpc=True, handle_now=server.serve_now,
                      max_body=1 << 20, parser=parser)
    for mode, request in (("HTTP invoke", INVOKE), ("JSON-RPC", JSONRPC)):
        conn = gateway.protocol(("127.0.0.1", 1))
        t = Collect()
        conn.connection_made(t)
        conn.data_received(request)
        await asyncio.sleep(0)
        assert t.writes and b"56" in t.writes[-1], t.writes  # answered, inline
        prof = cProfile.Profile() if profile else None
        if prof is not None:
            prof.enable()
        t0 = time.process_time()
        for _ in range(n):
            conn.data_received(request)
            t.writes.clear()
        seconds = time.process_time() - t0
        if prof is not None:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)
        print(f"{parser} {mode}: {seconds / n * 1e6:.1f} µs of CPU per request (user space, no sockets)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parser", default="httptools", choices=["httptools", "h11"])
    p.add_argument("--n", type=int, default=50000)
    p.add_argument("--profile", action="store_true")
    a = p.parse_args()
    try:
        import uvloop

        uvloop.run(measure(a.parser, a.n, a.profile))
    except ImportError:
        asyncio.run(measure(a.parser, a.n, a.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
