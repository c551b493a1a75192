"""The Arith interop contract (docs/interop.md) as a Python service, for tests.

Self-contained on purpose: ``examples/arith`` is written separately and may change shape; these
tests need a fixed target. ``Mul``/``Add`` take ``Args{A, B}`` and return ``Reply{C}``; ``Fail``
returns the service error ``arith failed on purpose``; ``Echo`` returns raw bytes unchanged and
copies request metadata ``k`` into the response metadata (and first pushes the payload back to the
caller when the request metadata has ``push``).
"""

from __future__ import annotations

from dataclasses import dataclass

import rpcx
from rpcx import Context

__all__ = ["Args", "Reply", "Arith", "FAIL_TEXT"]

FAIL_TEXT = "arith failed on purpose"


@dataclass
class Args:
    A: int = 0
    B: int = 0


@dataclass
class Reply:
    C: int = 0


class Arith:
    def mul(self, args: Args) -> Reply:
        return Reply(args.A * args.B)

    def add(self, args: Args) -> Reply:
        return Reply(args.A + args.B)

    def fail(self, args: Args) -> Reply:
        raise rpcx.ServiceError(FAIL_TEXT)

    async def echo(self, ctx: Context, data: bytes) -> bytes:
        if "k" in ctx.metadata:
            ctx.response_metadata["k"] = ctx.metadata["k"]
        push = ctx.metadata.get("push")
        if push is not None:
            await ctx.connection.server.send_message(ctx.connection, "Arith", "Push", {"push": push}, data)
        return data
