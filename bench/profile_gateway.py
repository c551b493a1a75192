"""Profile the gateway on the rpcx port under the Go HTTP load client (bench/go/httpload, built by
bench/gateway.py): where a gateway call's CPU goes.

    .venv/bin/python bench/profile_gateway.py [--parser httptools|h11] [--mode invoke|jsonrpc]
                                              [--conc 16] [--seconds 5] [--top 25]

The server (Arith, the gateway with the chosen parser, uvloop when installed) runs in this process
under cProfile; httpload drives it over loopback (bounded in calls and seconds); then the
functions with the most own time are printed, and the shares of the big groups (HTTP parsing
and writing, the gateway, the dispatch path, the event loop). cProfile inflates Python-heavy code:
read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import subprocess
import sys
from pathlib import Path

import _common  # bench/'s shared helpers (run from bench/ as a script)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples" / "arith"))
HTTPLOAD = Path.home() / ".cache" / "rpcx-python" / "bench-bin-gateway" / "httpload"

GROUPS = {
    "HTTP parse/write (h11, httptools, rpcx/gateway/http*.py)": ("h11/", "httptools", "gateway/http.py",
                                                                  "gateway/fasthttp.py"),
    "gateway (invoke, jsonrpc, gohttp)": ("gateway/invoke.py", "gateway/jsonrpc.py", "gateway/gohttp.py"),
    "dispatch + codec (rpcx/server, rpcx/codec, rpcx/protocol)": ("rpcx/server/", "rpcx/codec/", "rpcx/protocol/"),
    "json": ("json/",),
}


async def serve(parser: str, mode: str, conc: int, seconds: float) -> str:
    from arith import Arith  # examples/arith/arith.py

    from rpcx import Server
    from rpcx.gateway import enable_gateway

    server = Server()
    server.register_name("Arith", Arith())
    enable_gateway(server, parser=parser)
    address = await server.start("tcp@127.0.0.1:0")
    url = "http://" + address.partition("@")[2] + "/"
    proc = await asyncio.create_subprocess_exec(str(HTTPLOAD), "-url", url, "-mode", mode, "-c", str(conc),
                                                "-n", "200000", "-d", f"{seconds}s",
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), seconds + 120)
    await server.close()
    if proc.returncode != 0:
        raise RuntimeError(err.decode())
    return out.decode()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parser", default="httptools")
    p.add_argument("--mode", default="invoke")
    p.add_argument("--conc", type=int, default=16)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    prof = cProfile.Profile()
    prof.enable()
    result = runner(serve(a.parser, a.mode, a.conc, a.seconds))
    prof.disable()
    print("httpload:", result.strip())
    _common.print_profile(prof, GROUPS, a.top, "event loop, asyncio tasks, builtins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
