"""File upload and download over a side channel, as Go's ``_filetransfer`` service (layer: server).

Rule: the rpcx methods only issue tokens (``TransferFile``, ``DownloadFile``, replying Go's
``FileTransferReply``); the bytes go over the side listener (:mod:`rpcx.server.sidechannel`) to the
handlers, which get the raw connection and the call's arguments. An upload ends when the client
closes; a download ends when the handler returns (the connection is then closed for it). The two
ready-made handlers stream through a fixed-size buffer, so a file of any size costs the same memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO, Callable

from ..protocol.sidechannel import (
    FILE_TRANSFER_SERVICE,
    DownloadFileArgs,
    FileTransferArgs,
    FileTransferReply,
)
from ..transport.sidestream import CHUNK, SideConnection
from .service import rpc_method
from .sidechannel import SideChannel, SideHandler

__all__ = ["FileTransfer", "save_to_directory", "serve_from_directory", "plain_file_name"]

log = logging.getLogger("rpcx.server.side")


class FileTransfer(SideChannel):
    """Go's ``NewFileTransfer(addr, handler, downloadFileHandler, waitNum)``.

    >>> import tempfile
    >>> from rpcx import Server
    >>> async def main():                                                  # doctest: +SKIP
    ...     server = Server()
    ...     files = tempfile.mkdtemp()
    ...     ft = FileTransfer("127.0.0.1:0", save_to_directory(files), serve_from_directory(files))
    ...     await server.enable_file_transfer(ft)                          # "_filetransfer"
    ...     await server.start("tcp@127.0.0.1:8972")

    ``upload_handler(conn, FileTransferArgs)`` and ``download_handler(conn, DownloadFileArgs)`` may
    be plain or ``async``; either may be None, and then that method answers with an error (Go would
    hand out a token and close the connection it admits).
    """

    def __init__(
        self,
        addr: str,
        upload_handler: SideHandler | None,
        download_handler: SideHandler | None = None,
        wait_num: int = 1000,
        **options: Any,
    ) -> None:
        super().__init__(addr, wait_num=wait_num, **options)
        self.upload_handler = upload_handler
        self.download_handler = download_handler

    async def enable(self, server: Any, name: str = FILE_TRANSFER_SERVICE, service: Any = None) -> None:
        await super().enable(server, name or FILE_TRANSFER_SERVICE, service or _FileTransferService(self))


class _FileTransferService:
    """What Go registers as ``_filetransfer``: two methods that hand out tokens."""

    def __init__(self, ft: FileTransfer) -> None:
        self._ft = ft

    @rpc_method("TransferFile")
    def transfer_file(self, args: FileTransferArgs) -> FileTransferReply:
        if self._ft.upload_handler is None:
            raise RuntimeError("file upload is not enabled on this server")
        token, addr = self._ft.issue(self._ft.upload_handler, args)
        return FileTransferReply(token=token, addr=addr)

    @rpc_method("DownloadFile")
    def download_file(self, args: DownloadFileArgs) -> FileTransferReply:
        if self._ft.download_handler is None:
            raise RuntimeError("file download is not enabled on this server")
        token, addr = self._ft.issue(self._ft.download_handler, args)
        return FileTransferReply(token=token, addr=addr)


def plain_file_name(name: str) -> str:
    """``name`` if it names a file in one directory, else ValueError: no separators, no ``..``.

    >>> plain_file_name("report.pdf")
    'report.pdf'
    >>> plain_file_name("../etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: not a plain file name: '../etc/passwd'
    """
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
            or os.path.basename(name) != name):
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def save_to_directory(directory: str | os.PathLike[str]) -> Callable[[SideConnection, FileTransferArgs], Any]:
    """An upload handler that saves each file as ``directory/<file_name>``.

    The bytes go to a hidden ``.part`` file first, renamed into place only when the connection
    ends with exactly ``file_size`` bytes (any count when the client sent no size): a client that
    vanishes midway leaves nothing behind but a log line. Names with a path in them are refused.
    """
    root = Path(directory)

    async def save(conn: SideConnection, args: FileTransferArgs) -> None:
        try:
            name = plain_file_name(args.file_name)
        except ValueError as exc:
            log.warning("upload from %s refused: %s", conn.peer, exc)
            return
        part = root / f".{name}.{secrets.token_hex(4)}.part"
        received = 0
        f: BinaryIO = await asyncio.to_thread(open, part, "wb")
        try:
            while chunk := await conn.receive_some(CHUNK):
                await asyncio.to_thread(f.write, chunk)
                received += len(chunk)
        except (ConnectionError, OSError) as exc:
            log.warning("upload of %r from %s broke after %d bytes: %s", name, conn.peer, received, exc)
            received = -1
        finally:
            await asyncio.to_thread(f.close)
        if received < 0 or (args.file_size > 0 and received != args.file_size):
            if received >= 0:
                log.warning("upload of %r from %s ended after %d of %d bytes; discarded",
                            name, conn.peer, received, args.file_size)
            await asyncio.to_thread(part.unlink, True)
            return
        await asyncio.to_thread(os.replace, part, root / name)
        log.info("saved %r (%d bytes) from %s", name, received, conn.peer)

    return save


def serve_from_directory(directory: str | os.PathLike[str]) -> Callable[[SideConnection, DownloadFileArgs], Any]:
    """A download handler that sends ``directory/<file_name>``; an unknown or unsafe name is
    logged and the connection closed at once (the client receives zero bytes, as from Go)."""
    root = Path(directory)

    async def send(conn: SideConnection, args: DownloadFileArgs) -> None:
        try:
            path = root / plain_file_name(args.file_name)
            f: BinaryIO = await asyncio.to_thread(open, path, "rb")
        except (ValueError, OSError) as exc:
            log.warning("download of %r by %s refused: %s", args.file_name, conn.peer, exc)
            return
        sent = 0
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                await conn.send_all(chunk)
                sent += len(chunk)
        except (ConnectionError, OSError) as exc:
            log.warning("download of %r by %s broke after %d bytes: %s", args.file_name, conn.peer, sent, exc)
        finally:
            await asyncio.to_thread(f.close)

    return send
