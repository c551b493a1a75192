"""A server process whose calls take a set time, for fail-mode tests and benchmarks (layer: testing).

    python -m rpcx.testing.delay_server tcp@127.0.0.1:0 --name slow --delay 0.05

It serves ``Arith.Mul`` (``{"A", "B"}`` -> ``{"C"}``, the interop contract's shapes) after waiting
``--delay`` seconds (the event loop keeps serving other calls meanwhile), names itself in the
response metadata ``server``, and answers ``Arith.Stats`` at once with how many ``Mul`` calls it
received and answered. It prints ``serving <address>`` once it accepts calls; SIGINT/SIGTERM
stop it. A slow server among fast ones is how Failbackup's backup request is shown to cut the tail
(``tests/client/test_xclient_failbackup_procs.py``, ``bench/failbackup_run.py``).

>>> DelayArith("fast", 0.0).stats(None)
{'received': 0, 'answered': 0}
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import Any

from ..server import Context, Server

__all__ = ["Args", "Reply", "DelayArith", "main"]


@dataclass
class Args:
    A: int = 0
    B: int = 0


@dataclass
class Reply:
    C: int = 0


class DelayArith:
    """``Mul`` answered after ``delay`` seconds, naming the server ``name`` in the response metadata."""

    def __init__(self, name: str, delay: float) -> None:
        self.name = name
        self.delay = delay
        self.received = 0
        self.answered = 0

    async def mul(self, ctx: Context, args: Args) -> Reply:
        self.received += 1
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        ctx.response_metadata["server"] = self.name
        self.answered += 1
        return Reply(args.A * args.B)

    def stats(self, args: Any) -> dict[str, int]:
        return {"received": self.received, "answered": self.answered}


async def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rpcx.testing.delay_server", description=__doc__.splitlines()[0])
    p.add_argument("address", help="network@host:port, e.g. tcp@127.0.0.1:0")
    p.add_argument("--name", required=True, help="sent back as response metadata 'server'")
    p.add_argument("--delay", type=float, default=0.0, help="seconds each Mul call waits before answering")
    opts = p.parse_args(argv)
    server = Server()
    server.register_name("Arith", DelayArith(opts.name, opts.delay))
    address = await server.start(opts.address)
    print(f"serving {address}", flush=True)
    await server.run_until_signalled(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
