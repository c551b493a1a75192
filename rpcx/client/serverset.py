"""The servers an :class:`~rpcx.client.XClient` may call and how it picks one (layer: client).

Rule: the selector only ever holds discovery's list after Go's filters (``state=inactive`` dropped,
``Option.group``) minus the servers held out after a refused dial (``Option.dial_backoff``); when
every server is held out, all are offered again rather than failing with "no server". Client
plugins' ``wrap_select`` wrap the selector's ``select``; the per-server circuit breakers
(``Option.breaker``) live here because they follow the list (a server that leaves loses its breaker).
The discovery watch starts on the first call, not in ``__init__``.

:class:`ServerSet` is the lowest base of ``XClient`` (see ``xclient.py`` for the whole stack); it is
not used alone.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Collection

from ..errors import NoServerAvailableError, RpcxError
from .breaker import BreakerState, CircuitBreaker
from .discovery import KVPair, ServiceDiscovery
from .options import Option, SelectMode
from .plugins import ClientPluginContainer
from .selector import (
    Call,
    HoldOut,
    Outcome,
    Selector,
    StickySelector,
    adapt_selector,
    filter_servers,
    new_selector,
)

__all__ = ["ServerSet", "NO_SERVER"]

log = logging.getLogger("rpcx.client")

#: Go's ErrXClientNoServer text
NO_SERVER = "can not found any server"


class ServerSet:
    """XClient's server list, selector, hold-outs, breakers and background tasks (a base of XClient)."""

    service_path: str

    def _init_server_set(
        self, service_path: str, select_mode: SelectMode, discovery: ServiceDiscovery, option: Option,
    ) -> None:
        self.service_path = service_path
        self.select_mode = SelectMode(select_mode)
        self.discovery = discovery
        self.option = option
        self._servers = filter_servers(discovery.get_services(), option.group)
        self._holdout = HoldOut(option.dial_backoff) if option.dial_backoff is not None else None
        #: the held-out keys the selector's list was last built without
        self._held_applied: frozenset[str] = frozenset()
        #: client plugins (Go's ``SetPlugins``): add with ``xc.plugins.add(plugin)``
        self.plugins = ClientPluginContainer()
        self.plugins.on_change = self._wrap_select
        self.selector: Selector = new_selector(self.select_mode, self._servers, latitude=option.latitude,
                                               longitude=option.longitude)
        self._selector_report: Callable[[str, Outcome, float], Any] | None = None
        self._select_fn: Callable[[Call], str | None] = self.selector.select
        self._use_selector(self.selector)
        #: one breaker per server key, made by ``option.breaker`` (None: no breakers)
        self._breakers: dict[str, CircuitBreaker] | None = {} if option.breaker is not None else None
        #: every background task (closing a connection, draining one, the discovery watch, a
        #: Failbackup loser finishing its cancellation): held here, awaited by aclose()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watch_started = False
        self._watch: AsyncIterator[list[KVPair]] | None = None
        self._watch_task: asyncio.Task[None] | None = None

    # -- the selector ---------------------------------------------------------------------------
    def set_selector(self, selector: Selector) -> None:
        """Use a custom selector (Go's ``SelectByUser``): ``select(call) -> key | None`` and
        ``update_server(servers)``, optionally ``report(key, outcome, latency)``.

        A selector with the old ``select(service_path, service_method, args) -> str`` is adapted,
        with a :class:`DeprecationWarning`.
        """
        adapted = adapt_selector(selector)
        adapted.update_server(self._visible_servers())
        self._use_selector(adapted)
        self.select_mode = SelectMode.SELECT_BY_USER

    def config_geo_selector(self, latitude: float, longitude: float) -> None:
        """Select the server nearest to these coordinates (Go's ``ConfigGeoSelector``; sets
        ``SelectMode.CLOSEST``)."""
        self.select_mode = SelectMode.CLOSEST
        selector = new_selector(SelectMode.CLOSEST, self._visible_servers(), latitude=latitude, longitude=longitude)
        self._use_selector(selector)

    def _use_selector(self, selector: Selector) -> None:
        if self.option.sticky and not isinstance(selector, StickySelector):
            selector = StickySelector(selector)
            selector.update_server(self._visible_servers())
        self.selector = selector
        self._selector_report = getattr(selector, "report", None)
        self._wrap_select()
        if getattr(self, "_watch_started", False):  # set_selector after the first call
            self._ensure_rtt_probe()

    def _rtt_target(self) -> Any:
        """The selector that takes measured round trips (WeightedICMP, maybe inside Sticky), or None."""
        sel: Any = self.selector
        for s in (sel, getattr(sel, "inner", None)):
            if s is not None and hasattr(s, "record_rtt"):
                return s
        return None

    def _ensure_rtt_probe(self) -> None:
        """Start measuring round trips if the selector needs them (the connection layer does it)."""

    def _wrap_select(self) -> None:
        """The select function calls use: the selector's, wrapped by plugins' ``wrap_select``."""
        self._select_fn = self.plugins.wrap(self.selector.select) if self.plugins.wrap_select else self.selector.select

    def _select(self, call: Call, avoid: Collection[str] = ()) -> str:
        """The selector's choice for ``call``, never one of ``avoid`` (servers that refused this call)
        unless every server did."""
        self._refresh_selector()
        select = self._select_fn
        key = select(call)
        if key and key in avoid:
            first = key
            # ask again: round-robin moves on, random draws again
            for _ in range(len(self._servers)):
                key = select(call)
                if not key or key not in avoid:
                    break
            if not key or key in avoid:
                # the selector insists: take another listed server at random, or, when every one
                # refused this call, try its choice anyway
                others = [k for k in self._visible_servers() if k not in avoid]
                key = random.choice(others) if others else first
        if not key:
            raise NoServerAvailableError(NO_SERVER)
        return key

    # -- breakers -------------------------------------------------------------------------------
    def breaker_state(self) -> dict[str, BreakerState]:
        """The circuit breaker state of every listed server (all CLOSED without ``Option.breaker``)."""
        breakers = self._breakers or {}
        return {k: breakers[k].state if k in breakers else BreakerState.CLOSED for k in self._servers}

    def _breaker(self, key: str) -> CircuitBreaker:
        assert self._breakers is not None and self.option.breaker is not None
        b = self._breakers.get(key)
        if b is None:
            b = self._breakers[key] = self.option.breaker()
        return b

    # -- the server list ------------------------------------------------------------------------
    @property
    def servers(self) -> dict[str, str]:
        """Discovery's servers after the inactive and group filters (held-out ones included)."""
        return dict(self._servers)

    @property
    def held_out(self) -> set[str]:
        """Servers held out of selection now because they refused a dial."""
        if not self._holdout:
            return set()
        return self._holdout.held(time.monotonic()) & self._servers.keys()

    def _visible_servers(self) -> dict[str, str]:
        visible = {k: v for k, v in self._servers.items() if k not in self._held_applied}
        # every server is held out: try them all rather than fail with "no server"
        return visible or dict(self._servers)

    def _refresh_selector(self) -> None:
        """Rebuild the selector's list when the held-out set changed (a refusal, or a back-off over)."""
        if not self._holdout and not self._held_applied:
            return  # the common case: nobody refused
        held = frozenset(self.held_out)
        if held != self._held_applied:
            self._held_applied = held
            self.selector.update_server(self._visible_servers())
            self._servers_changed()

    def _update_servers(self, pairs: list[KVPair]) -> bool:
        """Take discovery's new list; False when nothing changed. (The connection layer overrides
        this to close the connections of servers that left.)"""
        servers = filter_servers(pairs, self.option.group)
        if servers == self._servers:
            return False
        self._servers = servers
        if self._holdout is not None:
            self._holdout.forget_except(servers)
        if self._breakers:
            for k in [k for k in self._breakers if k not in servers]:
                del self._breakers[k]
        self._held_applied = frozenset(self.held_out)
        self.selector.update_server(self._visible_servers())
        self._servers_changed()
        log.info("%s: servers now %s", self.service_path, sorted(self._servers))
        return True

    def _servers_changed(self) -> None:
        """Called after the selector got a new list (the connection layer re-measures round trips)."""

    # -- background tasks and the discovery watch -----------------------------------------------
    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._track(task)
        return task

    def _track(self, task: asyncio.Task[Any]) -> None:
        # the loop holds tasks only weakly: keep each one until it is done, and retrieve its result
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, RpcxError):  # an rpcx error was the loser's, or a closing one's
                log.error("%s: background task failed", self.service_path, exc_info=exc)

    def _ensure_watch(self) -> None:
        """Start watching discovery on the first call (not in ``__init__``: an XClient that is never
        used, or made outside a running loop, holds no watch)."""
        if self._watch_started:
            return
        watch = self.discovery.watch()  # if this raises, the call fails and the next one tries again
        self._watch_started = True
        self._ensure_rtt_probe()
        if watch is None:
            return
        self._watch = watch
        # a change between __init__ and now reached no watcher
        self._update_servers(self.discovery.get_services())
        self._watch_task = self._spawn(self._watch_loop(watch))

    async def _watch_loop(self, watch: AsyncIterator[list[KVPair]]) -> None:
        async for pairs in watch:
            self._update_servers(pairs)
        log.warning("%s: the discovery watch ended; the server list is no longer updated", self.service_path)
