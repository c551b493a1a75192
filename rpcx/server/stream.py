"""Raw full-duplex byte streams over a side channel, as Go's ``_streamservice`` (layer: server).

Rule: ``Stream`` asks the acceptor (if any) with the call's context and arguments; a refusal is the
call's error, Go's ``server refused the connection``; otherwise it issues a token and the handler
gets the side connection once the client presents it.
"""

from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable

from ..errors import RpcxError
from ..protocol.sidechannel import NOT_ACCEPTED, STREAM_SERVICE, StreamServiceArgs, StreamServiceReply
from .context import Context
from .service import rpc_method
from .sidechannel import SideChannel, SideHandler

__all__ = ["StreamService", "StreamAcceptor", "NotAcceptedError"]

#: ``acceptor(ctx, args) -> bool``, plain or async (Go's ``StreamAcceptor``)
StreamAcceptor = Callable[[Context, StreamServiceArgs], "bool | Awaitable[bool]"]


class NotAcceptedError(RpcxError):
    """The acceptor refused a stream (Go's ``server.ErrNotAccept``)."""


class StreamService(SideChannel):
    """Go's ``NewStreamService(addr, streamHandler, acceptor, waitNum)``.

    >>> from rpcx import Server
    >>> async def echo(conn, args):
    ...     while data := await conn.receive_some():
    ...         await conn.send_all(data)
    >>> async def main():                                                  # doctest: +SKIP
    ...     server = Server()
    ...     await server.enable_stream_service(StreamService("127.0.0.1:0", echo))   # "_streamservice"
    ...     await server.start("tcp@127.0.0.1:8972")
    """

    def __init__(
        self,
        addr: str,
        handler: SideHandler,
        acceptor: StreamAcceptor | None = None,
        wait_num: int = 1000,
        **options: Any,
    ) -> None:
        super().__init__(addr, wait_num=wait_num, **options)
        self.handler = handler
        self.acceptor = acceptor

    async def enable(self, server: Any, name: str = STREAM_SERVICE, service: Any = None) -> None:
        await super().enable(server, name or STREAM_SERVICE, service or _StreamService(self))


class _StreamService:
    """What Go registers as ``_streamservice``: one method that hands out tokens."""

    def __init__(self, ss: StreamService) -> None:
        self._ss = ss

    @rpc_method("Stream")
    async def stream(self, ctx: Context, args: StreamServiceArgs) -> StreamServiceReply:
        if self._ss.acceptor is not None:
            ok = self._ss.acceptor(ctx, args)
            if inspect.isawaitable(ok):
                ok = await ok
            if not ok:
                raise NotAcceptedError(NOT_ACCEPTED)
        token, addr = self._ss.issue(self._ss.handler, args)
        return StreamServiceReply(token=token, addr=addr)
