"""``XClientPool`` and ``OneClientPool``: a fixed number of clients handed out round-robin (layer: client).

Rule: Go's pools (client/xclient_pool.go, oneclient_pool.go): ``count`` members made up front over
one discovery, ``get()`` cycles through them, settings go to every member. A pool spreads calls over
``count`` connections per server, where one XClient keeps one.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Generic, Iterator, TypeVar

from ..codec.base import CodecRegistry
from .client import PushHandler
from .discovery import ServiceDiscovery
from .oneclient import OneClient
from .options import FailMode, Option, SelectMode
from .xclient import XClient

__all__ = ["XClientPool", "OneClientPool"]

M = TypeVar("M", XClient, OneClient)


class _Pool(Generic[M]):
    def __init__(self, members: list[M]) -> None:
        if not members:
            raise ValueError("a pool needs count >= 1")
        self._members: list[M] = members
        # Go: atomic.AddUint64(&index, 1) % count, so the first get() is member 1 (member 0 if count is 1)
        self._next: Iterator[int] = (i % len(members) for i in itertools.count(1))

    def get(self) -> M:
        """The next member, round-robin."""
        return self._members[next(self._next)]

    @property
    def members(self) -> list[M]:
        return list(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def auth(self, token: str) -> None:
        """Send ``token`` as ``__AUTH`` from every member."""
        for m in self._members:
            m.auth(token)

    async def aclose(self) -> None:
        """Close every member. Idempotent."""
        await asyncio.gather(*(m.aclose() for m in self._members))

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class XClientPool(_Pool[XClient]):
    """``count`` XClients of one service path (Go's ``NewXClientPool``; with ``on_push``,
    ``NewBidirectionalXClientPool``).

    >>> from rpcx.client import Peer2PeerDiscovery
    >>> pool = XClientPool(4, "Arith", FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery("tcp@127.0.0.1:8972"))
    >>> len(pool)
    4
    >>> # reply = await pool.get().call("Mul", {"A": 2, "B": 3}); await pool.aclose()
    """

    def __init__(
        self, count: int, service_path: str, fail_mode: FailMode = FailMode.FAILTRY,
        select_mode: SelectMode = SelectMode.RANDOM, discovery: ServiceDiscovery | None = None,
        option: Option = Option(), *, codecs: CodecRegistry | None = None, on_push: PushHandler | None = None,
    ) -> None:
        super().__init__([XClient(service_path, fail_mode, select_mode, discovery, option, codecs=codecs,
                                  on_push=on_push) for _ in range(count)])

    def add_plugin(self, plugin: Any) -> None:
        """Add a client plugin to every member (Go's ``SetPlugins``)."""
        for m in self._members:
            m.plugins.add(plugin)


class OneClientPool(_Pool[OneClient]):
    """``count`` OneClients (Go's ``NewOneClientPool``).

    >>> from rpcx.client import Peer2PeerDiscovery
    >>> pool = OneClientPool(2, FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery("tcp@127.0.0.1:8972"))
    >>> # reply = await pool.get().call("Arith", "Mul", {"A": 2, "B": 3}); await pool.aclose()
    """

    def __init__(
        self, count: int, fail_mode: FailMode = FailMode.FAILTRY, select_mode: SelectMode = SelectMode.RANDOM,
        discovery: ServiceDiscovery | None = None, option: Option = Option(), *,
        codecs: CodecRegistry | None = None, on_push: PushHandler | None = None,
    ) -> None:
        super().__init__([OneClient(fail_mode, select_mode, discovery, option, codecs=codecs, on_push=on_push)
                          for _ in range(count)])

    def add_plugin(self, plugin: Any) -> None:
        """Add a client plugin to every member's XClients, now and later."""
        for m in self._members:
            m.add_plugin(plugin)
