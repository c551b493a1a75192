"""Shared bits of the benchmark's Python servers (bench/ only; not part of the rpcx package)."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # `from benchpb import ...` when run from any directory
    sys.path.insert(0, HERE)


def install_uvloop() -> str:
    """Use uvloop's event loop policy when it is installed (and not disabled); return the loop's name.

    RPCX_BENCH_NO_UVLOOP=1 keeps the stdlib loop (for comparisons).
    """
    if os.environ.get("RPCX_BENCH_NO_UVLOOP"):
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return f"uvloop {uvloop.__version__}"


def split_address(arg: str) -> tuple[str, int]:
    """``127.0.0.1:0`` or ``tcp@127.0.0.1:0`` -> (host, port)."""
    if "@" in arg:
        arg = arg.split("@", 1)[1]
    host, _, port = arg.rpartition(":")
    return host or "127.0.0.1", int(port)


def address_arg(default: str = "127.0.0.1:0") -> str:
    return sys.argv[1] if len(sys.argv) > 1 else default


def ready(line: str) -> None:
    print(line, flush=True)


def run(main: Any) -> None:
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        pass
