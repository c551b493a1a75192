"""Upload, download and raw streams over Go rpcx's side channels (layer: client).

Rule: each operation is Go's (client/xclient.go ``SendFile``, ``DownloadFile``, ``Stream``): one
rpcx call through the XClient (so its fail mode, selector, auth and plugins apply) returns a token
and an address; then a plain TCP connection to that address carries the token and the raw bytes.
Bytes move through a fixed-size buffer with flow control, so memory does not grow with file size.
The XClient's service path must be the service's name (``_filetransfer`` / ``_streamservice`` by
default), as in Go.

>>> from rpcx import XClient, Peer2PeerDiscovery
>>> async def main():                                                      # doctest: +SKIP
...     async with XClient("_filetransfer", discovery=Peer2PeerDiscovery("tcp@127.0.0.1:8972")) as xc:
...         await xc.send_file("report.pdf")
...         with open("copy.pdf", "wb") as f:
...             await xc.download_file("report.pdf", f)
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import time
from typing import TYPE_CHECKING, Any, BinaryIO

from ..protocol.sidechannel import (
    DownloadFileArgs,
    FileTransferArgs,
    FileTransferReply,
    StreamServiceArgs,
    StreamServiceReply,
)
from ..transport.sidestream import CHUNK, SideConnection, dial_side
from ..transport.tcp import split_host_port

if TYPE_CHECKING:
    from .xclient import XClient

__all__ = ["send_file", "download_file", "open_stream", "open_stream_socket", "stream_reply", "Pacer"]


class Pacer:
    """Go's upload rate limit: a token bucket of ``rate`` bytes per second that starts full with
    ``rate`` bytes (``ratelimit.NewBucketWithRate(rate, rate)``). ``delay(n)`` is how long to wait
    before sending ``n`` more bytes; the clock is passed in.

    >>> p = Pacer(1000, now=0.0)
    >>> p.delay(1000, now=0.0), p.delay(500, now=0.0), p.delay(500, now=1.0)
    (0.0, 0.5, 0.0)
    """

    def __init__(self, rate: int, *, now: float) -> None:
        self.rate = rate
        self._start = now
        self._taken = 0

    def delay(self, n: int, *, now: float) -> float:
        self._taken += n
        # allowed by time t: rate (the full bucket) + rate * (t - start)
        due = self._start + (self._taken - self.rate) / self.rate
        return max(0.0, due - now)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


async def _handshake(
    xc: "XClient", method: str, args: Any, reply_type: Any, deadline: float | None
) -> Any:
    reply = await xc.call(method, args, reply_type, timeout=_remaining(deadline))
    if len(reply.token) == 0 or not reply.addr:
        raise ConnectionError(f"side channel: {xc.service_path}.{method} returned no token or address")
    return reply


async def send_file(
    xc: "XClient",
    file_name: str | os.PathLike[str],
    rate_in_bytes_per_second: int = 0,
    meta: dict[str, str] | None = None,
    *,
    timeout: float | None = None,
) -> int:
    """Upload ``file_name`` (Go's ``SendFile``): the server learns its base name and size; returns
    the bytes sent. ``rate_in_bytes_per_second`` > 0 paces the upload; ``timeout`` bounds it all."""
    async with asyncio.timeout(timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        f: BinaryIO = await asyncio.to_thread(open, file_name, "rb")
        try:
            size = os.fstat(f.fileno()).st_size
            args = FileTransferArgs(file_name=os.path.basename(os.fspath(file_name)), file_size=size, meta=meta)
            reply = await _handshake(xc, "TransferFile", args, FileTransferReply, deadline)
            chunk_size = min(CHUNK, rate_in_bytes_per_second) if rate_in_bytes_per_second > 0 else CHUNK
            pacer = Pacer(rate_in_bytes_per_second, now=time.monotonic()) if rate_in_bytes_per_second > 0 else None
            sent = 0
            async with await dial_side(reply.addr, reply.token, connect_timeout=xc.option.connect_timeout) as conn:
                while chunk := await asyncio.to_thread(f.read, chunk_size):
                    if pacer is not None:
                        await asyncio.sleep(pacer.delay(len(chunk), now=time.monotonic()))
                    await conn.send_all(chunk)
                    sent += len(chunk)
            return sent
        finally:
            await asyncio.to_thread(f.close)


async def download_file(
    xc: "XClient",
    request_file_name: str,
    save_to: Any,
    meta: dict[str, str] | None = None,
    *,
    timeout: float | None = None,
) -> int:
    """Download ``request_file_name`` into ``save_to`` (Go's ``DownloadFile``): a path, or any
    object with ``write(bytes)`` (plain or async, like Go's ``io.Writer``). Returns the bytes
    received. The download ends when the server closes the connection; as in Go nothing on the
    wire tells a complete file from a cut one."""
    async with asyncio.timeout(timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        args = DownloadFileArgs(file_name=request_file_name, meta=meta)
        reply = await _handshake(xc, "DownloadFile", args, FileTransferReply, deadline)
        own = isinstance(save_to, (str, os.PathLike))
        out: Any = await asyncio.to_thread(open, save_to, "wb") if own else save_to
        received = 0
        try:
            async with await dial_side(reply.addr, reply.token, connect_timeout=xc.option.connect_timeout) as conn:
                while chunk := await conn.receive_some(CHUNK):
                    r = await asyncio.to_thread(out.write, chunk) if own else out.write(chunk)
                    if inspect.isawaitable(r):
                        await r
                    received += len(chunk)
        finally:
            if own:
                await asyncio.to_thread(out.close)
        return received


async def open_stream(
    xc: "XClient", meta: dict[str, str] | None = None, *, timeout: float | None = None
) -> SideConnection:
    """A raw full-duplex connection to the stream handler (Go's ``Stream``); close it when done.
    ``timeout`` bounds the call and the dial, not the stream."""
    async with asyncio.timeout(timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        reply = await _handshake(xc, "Stream", StreamServiceArgs(meta=meta), StreamServiceReply, deadline)
        return await dial_side(reply.addr, reply.token, connect_timeout=xc.option.connect_timeout)


async def stream_reply(xc: "XClient", meta: dict[str, str] | None, timeout: float | None) -> StreamServiceReply:
    """Only the ``Stream`` call (for :func:`open_stream_socket`, which dials outside the loop)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    reply: StreamServiceReply = await _handshake(xc, "Stream", StreamServiceArgs(meta=meta), StreamServiceReply,
                                                 deadline)
    return reply


def open_stream_socket(reply: StreamServiceReply, connect_timeout: float | None) -> socket.socket:
    """Dial a stream reply's address with a blocking socket and send its token: Go's ``net.Conn``
    for code that is not async (:meth:`BlockingXClient.stream`)."""
    host, port = split_host_port(reply.addr)
    sock = socket.create_connection((host, port), timeout=connect_timeout)
    try:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(reply.token)
    except BaseException:
        sock.close()
        raise
    return sock
