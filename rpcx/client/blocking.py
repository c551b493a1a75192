"""Blocking facades over the async clients, for code that is not async (layer: client).

The async client runs on a private event loop in a daemon thread, shared by every facade of the
process; each blocking method submits a coroutine there and waits for it.

>>> from rpcx.client import Peer2PeerDiscovery
>>> xc = BlockingXClient("Arith", discovery=Peer2PeerDiscovery("tcp@127.0.0.1:8972"))  # doctest: +SKIP
>>> xc.call("Mul", {"A": 10, "B": 20})["C"]                                          # doctest: +SKIP
200
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Coroutine, TypeVar

from ..codec.base import CodecRegistry
from ..transport.base import Address
from .client import Client, PushHandler
from .discovery import ServiceDiscovery
from .options import FailMode, Option, SelectMode
from .pending import Receipt
from .xclient import XClient

__all__ = ["BlockingClient", "BlockingXClient", "run"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            t = threading.Thread(target=loop.run_forever, name="rpcx-client-loop", daemon=True)
            t.start()
            _loop = loop
        return _loop


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the client loop thread and wait for its result."""
    loop = _get_loop()
    if asyncio._get_running_loop() is loop:  # pragma: no cover - misuse guard
        raise RuntimeError("a blocking rpcx call was made from inside the client loop")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


class BlockingXClient:
    """:class:`XClient` with blocking methods; same arguments.

    >>> from rpcx.client import Peer2PeerDiscovery
    >>> with BlockingXClient("Arith", discovery=Peer2PeerDiscovery("tcp@127.0.0.1:8972")) as xc:  # doctest: +SKIP
    ...     xc.call("Mul", {"A": 10, "B": 20})
    {'C': 200}
    """

    def __init__(
        self,
        service_path: str,
        fail_mode: FailMode = FailMode.FAILTRY,
        select_mode: SelectMode = SelectMode.RANDOM,
        discovery: ServiceDiscovery | None = None,
        option: Option = Option(),
        *,
        codecs: CodecRegistry | None = None,
        on_push: PushHandler | None = None,
    ) -> None:
        async def make() -> XClient:
            return XClient(service_path, fail_mode, select_mode, discovery, option, codecs=codecs, on_push=on_push)

        self._xc = run(make())

    def auth(self, token: str) -> None:
        """Send ``token`` as ``__AUTH`` metadata on every call (Go: ``xc.Auth``)."""
        self._xc.auth(token)

    def call(
        self,
        method: str,
        args: Any,
        reply_type: Any = None,
        *,
        metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method`` on a selected server and wait for the decoded reply (see :meth:`XClient.call`)."""
        return run(self._xc.call(method, args, reply_type, metadata=metadata,
                                 response_metadata=response_metadata, timeout=timeout))

    def oneshot(self, method: str, args: Any, *, metadata: dict[str, str] | None = None) -> None:
        """Send without waiting for a reply (Go: ``xc.Oneshot``)."""
        run(self._xc.oneshot(method, args, metadata=metadata))

    def broadcast(
        self, method: str, args: Any, reply_type: Any = None, *, metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None, timeout: float = 60.0,
    ) -> Any:
        """Call every server; the first reply, or the first error at once (Go: ``xc.Broadcast``)."""
        return run(self._xc.broadcast(method, args, reply_type, metadata=metadata,
                                      response_metadata=response_metadata, timeout=timeout))

    def fork(
        self, method: str, args: Any, reply_type: Any = None, *, metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None, timeout: float = 60.0,
    ) -> Any:
        """Call every server; the first success (Go: ``xc.Fork``)."""
        return run(self._xc.fork(method, args, reply_type, metadata=metadata,
                                 response_metadata=response_metadata, timeout=timeout))

    def inform(
        self, method: str, args: Any, reply_type: Any = None, *, metadata: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> list[Receipt]:
        """Call every server; one :class:`Receipt` per server (Go: ``xc.Inform``)."""
        return run(self._xc.inform(method, args, reply_type, metadata=metadata, timeout=timeout))

    def send_file(self, file_name: Any, rate_in_bytes_per_second: int = 0,
                  meta: dict[str, str] | None = None, *, timeout: float | None = None) -> int:
        """Upload a file (Go: ``xc.SendFile``); returns the bytes sent."""
        return run(self._xc.send_file(file_name, rate_in_bytes_per_second, meta, timeout=timeout))

    def download_file(self, request_file_name: str, save_to: Any, meta: dict[str, str] | None = None,
                      *, timeout: float | None = None) -> int:
        """Download into a path or a writer (Go: ``xc.DownloadFile``); returns the bytes received."""
        return run(self._xc.download_file(request_file_name, save_to, meta, timeout=timeout))

    def stream(self, meta: dict[str, str] | None = None, *, timeout: float | None = None) -> "socket.socket":
        """A raw stream as a connected blocking socket (Go: ``xc.Stream`` returns a ``net.Conn``)."""
        from .sidechannel import open_stream_socket, stream_reply
        reply = run(stream_reply(self._xc, meta, timeout))
        return open_stream_socket(reply, self._xc.option.connect_timeout)

    def close(self) -> None:
        """Close every connection; idempotent."""
        run(self._xc.aclose())

    def __enter__(self) -> "BlockingXClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlockingClient:
    """:class:`Client` (one connection) with blocking methods.

    >>> with BlockingClient("tcp@127.0.0.1:8972") as c:                      # doctest: +SKIP
    ...     c.call("Arith", "Mul", {"A": 10, "B": 20})
    {'C': 200}
    """

    def __init__(
        self,
        address: str | Address,
        option: Option = Option(),
        *,
        codecs: CodecRegistry | None = None,
        on_push: PushHandler | None = None,
    ) -> None:
        self._c: Client = run(Client.connect(address, option, codecs=codecs, on_push=on_push))

    def call(
        self,
        service_path: str,
        service_method: str,
        args: Any,
        reply_type: Any = None,
        *,
        metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None,
        timeout: float | None = None,
        serialize_type: int | None = None,
        compress_type: int | None = None,
    ) -> Any:
        """Call ``service_path.service_method(args)`` and wait for the decoded reply (see :meth:`Client.call`)."""
        return run(self._c.call(service_path, service_method, args, reply_type, metadata=metadata,
                                response_metadata=response_metadata, timeout=timeout,
                                serialize_type=serialize_type, compress_type=compress_type))

    def oneway(
        self,
        service_path: str,
        service_method: str,
        args: Any,
        *,
        metadata: dict[str, str] | None = None,
        serialize_type: int | None = None,
    ) -> None:
        """Send without waiting for a reply."""
        run(self._c.oneway(service_path, service_method, args, metadata=metadata, serialize_type=serialize_type))

    def close(self) -> None:
        """Close the connection; idempotent."""
        run(self._c.aclose())

    def __enter__(self) -> "BlockingClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
