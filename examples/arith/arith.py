"""The Arith service of the interop contract (docs/interop.md), as a Python user writes it.

One pair of dataclasses serves every codec: JSON and MessagePack see the Go field names ``A``,
``B``, ``C``; Protobuf goes through the bound message classes in ``arith_pb``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rpcx import Context, ServiceError

try:
    import arith_pb

    _ARGS_PB, _REPLY_PB = arith_pb.Args, arith_pb.Reply
except ImportError:  # protobuf extra not installed: the other codecs still work
    _ARGS_PB = _REPLY_PB = None


@dataclass
class Args:
    A: int = 0
    B: int = 0
    __protobuf__ = _ARGS_PB


@dataclass
class Reply:
    C: int = 0
    __protobuf__ = _REPLY_PB


class Arith:
    """``Arith.Mul``, ``Add``, ``Fail`` and ``Echo``; Go clients call them by those names."""

    def mul(self, args: Args) -> Reply:
        return Reply(C=args.A * args.B)

    def add(self, args: Args) -> Reply:
        return Reply(C=args.A + args.B)

    def fail(self, args: Args) -> Reply:
        raise ServiceError("arith failed on purpose")

    async def echo(self, ctx: Context, data: bytes) -> bytes:
        """Return the bytes; copy metadata ``k`` back; with metadata ``push``, push the bytes first."""
        if "k" in ctx.metadata:
            ctx.response_metadata["k"] = ctx.metadata["k"]
        if "push" in ctx.metadata:
            server = ctx.connection.server
            await server.send_message(ctx.connection, "Arith", "Push", {"push": ctx.metadata["push"]}, data)
        return data
