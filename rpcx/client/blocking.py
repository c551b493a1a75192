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
import threading
from typing import Any, Coroutine, TypeVar

from .client import Client
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
    """:class:`XClient` with blocking methods; same arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        async def make() -> XClient:
            return XClient(*args, **kwargs)

        self._xc = run(make())

    def auth(self, token: str) -> None:
        self._xc.auth(token)

    def call(self, method: str, args: Any, reply_type: Any = None, **kwargs: Any) -> Any:
        return run(self._xc.call(method, args, reply_type, **kwargs))

    def oneshot(self, method: str, args: Any, **kwargs: Any) -> None:
        run(self._xc.oneshot(method, args, **kwargs))

    def broadcast(self, method: str, args: Any, reply_type: Any = None, **kwargs: Any) -> Any:
        return run(self._xc.broadcast(method, args, reply_type, **kwargs))

    def fork(self, method: str, args: Any, reply_type: Any = None, **kwargs: Any) -> Any:
        return run(self._xc.fork(method, args, reply_type, **kwargs))

    def close(self) -> None:
        run(self._xc.aclose())

    def __enter__(self) -> "BlockingXClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlockingClient:
    """:class:`Client` (one connection) with blocking methods."""

    def __init__(self, address: str, *args: Any, **kwargs: Any) -> None:
        self._c: Client = run(Client.connect(address, *args, **kwargs))

    def call(self, service_path: str, service_method: str, args: Any, reply_type: Any = None, **kw: Any) -> Any:
        return run(self._c.call(service_path, service_method, args, reply_type, **kw))

    def oneway(self, service_path: str, service_method: str, args: Any, **kw: Any) -> None:
        run(self._c.oneway(service_path, service_method, args, **kw))

    def close(self) -> None:
        run(self._c.aclose())

    def __enter__(self) -> "BlockingClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
