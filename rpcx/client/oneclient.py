"""``OneClient``: one client for many service paths, an :class:`XClient` per path made on first use (layer: client).

Rule: a thin router. Each path's XClient is made lazily with ``discovery.clone(path)`` and the
settings given so far (auth, plugins, selectors, geo), as Go's ``OneClient.newXClient`` does; every
call is that XClient's, so fail modes, breakers and the single attempt point are unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..codec.base import CodecRegistry
from ..errors import ClientClosedError
from ..protocol.message import Message
from .client import PushHandler
from .discovery import ServiceDiscovery
from .options import FailMode, Option, SelectMode
from .pending import PendingCall, Receipt
from .selector import Selector
from .xclient import XClient

__all__ = ["OneClient"]


class OneClient:
    """Calls any service path over one discovery (Go's ``OneClient``).

    >>> from rpcx.client import Peer2PeerDiscovery
    >>> oc = OneClient(FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery("tcp@127.0.0.1:8972"))
    >>> # reply = await oc.call("Arith", "Mul", {"A": 10, "B": 20}, timeout=1.0); await oc.aclose()

    ``on_push`` is handed to every connection of every path (Go's ``NewBidirectionalOneClient``).
    """

    def __init__(
        self,
        fail_mode: FailMode = FailMode.FAILTRY,
        select_mode: SelectMode = SelectMode.RANDOM,
        discovery: ServiceDiscovery | None = None,
        option: Option = Option(),
        *,
        codecs: CodecRegistry | None = None,
        on_push: PushHandler | None = None,
    ) -> None:
        if discovery is None:
            raise ValueError("OneClient needs a discovery, e.g. Peer2PeerDiscovery('tcp@127.0.0.1:8972')")
        self.fail_mode = FailMode(fail_mode)
        self.select_mode = SelectMode(select_mode)
        self.discovery = discovery
        self.option = option
        self.codecs = codecs
        self.on_push = on_push
        self._auth: str | None = None
        self._plugins: list[Any] = []
        self._selectors: dict[str, Selector] = {}
        self._geo: tuple[float, float] | None = None
        self._xclients: dict[str, XClient] = {}
        #: the clones made for paths, closed with the OneClient (not the caller's discovery)
        self._clones: list[ServiceDiscovery] = []
        self._closed = False

    # -- settings, applied to every XClient made now or later -----------------------------------------
    def auth(self, token: str) -> None:
        """Send ``token`` as ``__AUTH`` with every call of every path."""
        self._auth = token
        for xc in self._xclients.values():
            xc.auth(token)

    def add_plugin(self, plugin: Any) -> None:
        """Add a client plugin to every path's XClient (Go's ``SetPlugins``)."""
        self._plugins.append(plugin)
        for xc in self._xclients.values():
            xc.plugins.add(plugin)

    def set_selector(self, service_path: str, selector: Selector) -> None:
        """Use ``selector`` for ``service_path`` (Go's ``OneClient.SetSelector``)."""
        self._selectors[service_path] = selector
        if service_path in self._xclients:
            self._xclients[service_path].set_selector(selector)

    def config_geo_selector(self, latitude: float, longitude: float) -> None:
        """Select the nearest server on every path (sets ``SelectMode.CLOSEST``)."""
        self.select_mode = SelectMode.CLOSEST
        self._geo = (latitude, longitude)
        for xc in self._xclients.values():
            xc.config_geo_selector(latitude, longitude)

    def xclient(self, service_path: str) -> XClient:
        """The XClient of ``service_path``, made on first use with ``discovery.clone(service_path)``."""
        xc = self._xclients.get(service_path)
        if xc is not None:
            return xc
        if self._closed:
            raise ClientClosedError("oneClient is shut down")
        d = self.discovery.clone(service_path)
        if d is not self.discovery:
            self._clones.append(d)
        xc = XClient(service_path, self.fail_mode, self.select_mode, d, self.option, codecs=self.codecs,
                     on_push=self.on_push)
        for p in self._plugins:
            xc.plugins.add(p)
        if service_path in self._selectors:
            xc.set_selector(self._selectors[service_path])
        if self._geo is not None:
            xc.config_geo_selector(*self._geo)
        if self._auth is not None:
            xc.auth(self._auth)
        self._xclients[service_path] = xc
        return xc

    @property
    def service_paths(self) -> list[str]:
        """The paths with an XClient so far."""
        return list(self._xclients)

    # -- calls: the path's XClient's --------------------------------------------------------------------
    async def call(self, service_path: str, method: str, args: Any, reply_type: Any = None, **kw: Any) -> Any:
        """:meth:`XClient.call` on ``service_path`` (``metadata``, ``response_metadata``, ``timeout``)."""
        return await self.xclient(service_path).call(method, args, reply_type, **kw)

    def go(self, service_path: str, method: str, args: Any, reply_type: Any = None, **kw: Any) -> PendingCall:
        """:meth:`XClient.go` on ``service_path``."""
        return self.xclient(service_path).go(method, args, reply_type, **kw)

    async def oneshot(self, service_path: str, method: str, args: Any, **kw: Any) -> None:
        """:meth:`XClient.oneshot` on ``service_path``."""
        await self.xclient(service_path).oneshot(method, args, **kw)

    async def broadcast(self, service_path: str, method: str, args: Any, reply_type: Any = None, **kw: Any) -> Any:
        """:meth:`XClient.broadcast` on ``service_path``."""
        return await self.xclient(service_path).broadcast(method, args, reply_type, **kw)

    async def fork(self, service_path: str, method: str, args: Any, reply_type: Any = None, **kw: Any) -> Any:
        """:meth:`XClient.fork` on ``service_path``."""
        return await self.xclient(service_path).fork(method, args, reply_type, **kw)

    async def inform(self, service_path: str, method: str, args: Any, reply_type: Any = None,
                     **kw: Any) -> list[Receipt]:
        """:meth:`XClient.inform` on ``service_path`` (Go's OneClient has no Inform)."""
        return await self.xclient(service_path).inform(method, args, reply_type, **kw)

    async def send_raw(self, msg: Message, *, timeout: float | None = None) -> Message:
        """:meth:`XClient.send_raw` on the message's own service path, as Go's ``OneClient.SendRaw``."""
        return await self.xclient(msg.service_path).send_raw(msg, timeout=timeout)

    # -- lifecycle --------------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close every path's XClient and the discovery clones made for them. Idempotent."""
        self._closed = True
        xcs, self._xclients = list(self._xclients.values()), {}
        clones, self._clones = self._clones, []
        await asyncio.gather(*(xc.aclose() for xc in xcs))
        await asyncio.gather(*(c.aclose() for c in clones))

    async def __aenter__(self) -> "OneClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
