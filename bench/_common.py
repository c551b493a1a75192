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


def print_profile(prof: Any, groups: dict[str, tuple[str, ...]], top: int, rest: str) -> None:
    """Print a cProfile run as shares of its total time per group (a group takes the functions whose
    file path contains one of its keys; the first matching group wins), the share left over
    (described by ``rest``), and the ``top`` functions by own time."""
    import io
    import pstats

    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    shares = {g: 0.0 for g in groups}
    for (path, _, _), v in stats.stats.items():  # type: ignore[attr-defined]
        for g, keys in groups.items():
            if any(k in path for k in keys):
                shares[g] += v[2]
                break
    for g, t in shares.items():
        print(f"{100 * t / total:5.1f}%  {g}")
    print(f"{100 * (total - sum(shares.values())) / total:5.1f}%  the rest ({rest})")
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(top)
    print(s.getvalue())
