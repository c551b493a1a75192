"""XClient's connections: one cached :class:`Client` per server key (layer: client).

Rule: concurrent dials of one key are merged into one task (Go's singleflight) that a cancelled
caller does not cancel; a dial's refusal holds the server out of selection once per dial, not once
per caller. A connection error drops the connection (Go's ``removeClient``) and the next attempt
dials again; a server that leaves discovery's list keeps its connection until the calls in flight
on it are answered. The client plugins' connection hooks (``client_connected``,
``conn_create_failed``, ``client_connection_close``) run here. ``aclose`` closes everything and
waits for every background task.

:class:`ConnectionCache` is a base of ``XClient`` (see ``xclient.py``); it is not used alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from ..codec.base import CodecRegistry
from ..errors import ClientClosedError
from .client import Client, PushHandler
from .discovery import KVPair
from .rttprobe import RttProber
from .serverset import ServerSet

__all__ = ["ConnectionCache"]

log = logging.getLogger("rpcx.client")


class ConnectionCache(ServerSet):
    """Dials, caches, drops and closes XClient's connections (a base of XClient)."""

    def _init_connections(self, codecs: CodecRegistry | None, on_push: PushHandler | None) -> None:
        self.codecs = codecs or CodecRegistry()
        self.on_push = on_push
        self._clients: dict[str, Client] = {}
        self._dialing: dict[str, asyncio.Task[Client]] = {}
        self._draining: dict[Client, asyncio.Task[None]] = {}
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None
        #: measures round trips for SelectMode.WEIGHTED_ICMP (rttprobe.py); None for other selectors
        self._prober: RttProber | None = None
        self._probe_task: asyncio.Task[None] | None = None

    # -- round trips for WeightedICMP -----------------------------------------------------------
    def _ensure_rtt_probe(self) -> None:
        if self._closed or self._rtt_target() is None:
            return
        if self._probe_task is not None and not self._probe_task.done():
            self._prober.poke()  # type: ignore[union-attr]  # a new selector: measure for it now
            return
        self._prober = RttProber(self._probe_client, self._rtt_target, self.option.ping_interval)
        self._probe_task = self._spawn(self._prober.run())

    def _servers_changed(self) -> None:
        if self._prober is not None:
            self._prober.poke()

    async def _probe_client(self, key: str) -> Client:
        """The connection a ping of ``key`` goes over: the one calls use, dialled if needed."""
        client = self._clients.get(key)
        if client is not None and client.closed:
            self._remove_client(key, client)
        return await self._get_client(key)

    def _update_servers(self, pairs: list[KVPair]) -> bool:
        if not super()._update_servers(pairs):
            return False
        for key in list(self._clients):
            if key not in self._servers:
                # calls in flight on a server that left the list still get their replies (a server
                # marked inactive to drain, say); the connection closes once they are done
                self._close_when_idle(key, self._clients.pop(key))
        return True

    async def _get_client(self, key: str) -> Client:
        if self._closed:
            raise ClientClosedError("xClient is shut down")
        client = self._clients.get(key)
        if client is not None and not client.closed:
            return client
        task = self._dialing.get(key)
        if task is None:
            # merge concurrent dials of one key (Go: singleflight). The dial is its own task, so a
            # caller that is cancelled (a timeout, a Failbackup loser) does not cancel it for others
            task = asyncio.get_running_loop().create_task(self._dial(key))
            self._dialing[key] = task
            task.add_done_callback(lambda t: self._dial_done(key, t))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if self._closed and task.cancelled() and (me is None or not me.cancelling()):
                # aclose() cancelled the dial, not our caller: say so
                raise ClientClosedError("xClient is shut down") from None
            raise

    async def _dial(self, key: str) -> Client:
        try:
            client = await Client.connect(key, self.option, codecs=self.codecs, on_push=self.on_push,
                                          plugins=self.plugins)
        except Exception as exc:
            for h in self.plugins.conn_create_failed:
                self._run_hook(h, key, exc)
            raise
        if self._closed:  # aclose() ran while we dialled: do not leak the connection
            await client.aclose()
            raise ClientClosedError("xClient is shut down")
        if self.plugins.client_connected:
            try:
                for h in self.plugins.client_connected:
                    h(key, client)
            except Exception:
                await client.aclose()  # Go: ConnCreated's error fails the dial
                raise
        self._clients[key] = client
        return client

    def _dial_done(self, key: str, task: asyncio.Task[Client]) -> None:
        if self._dialing.get(key) is task:
            del self._dialing[key]
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here, so a dial nobody waits for any more logs nothing
        if self._holdout is None or isinstance(exc, ClientClosedError):
            return
        # counted once per dial, not once per caller that shared it
        if exc is None:
            self._holdout.succeeded(key)
        else:
            now = time.monotonic()
            self._holdout.failed(key, now)
            log.info("%s: %s refused a connection (%s); held out of selection for %.2fs", self.service_path,
                     key, exc, (self._holdout.until(key) or now) - now)

    def _close_when_idle(self, key: str, client: Client) -> None:
        async def close() -> None:
            try:
                while client.pending and not client.closed:
                    await asyncio.sleep(0.05)
            finally:
                self._draining.pop(client, None)
                self._closing(key, client)
                await client.aclose()

        self._draining[client] = self._spawn(close())

    def _remove_client(self, key: str, client: Client) -> None:
        """Go's ``removeClient``: drop a connection that failed, and close it in the background."""
        if self._clients.get(key) is client:
            del self._clients[key]
            self._closing(key, client)
            self._spawn(client.aclose())

    def _closing(self, key: str, client: Client) -> None:
        for h in self.plugins.client_connection_close:
            self._run_hook(h, key, client)

    def _run_hook(self, hook: Callable[..., Any], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:  # noqa: BLE001 - a broken plugin must not fail the call or the close
            log.exception("%s: client plugin hook %r failed", self.service_path, hook)

    # -- lifecycle ------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close every connection, stop watching discovery and finish every background task. Idempotent."""
        self._closed = True
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        # shielded: a caller cancelled while waiting does not leave the close half done
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
        if self._probe_task is not None:
            self._probe_task.cancel()
        for t in self._draining.values():
            t.cancel()  # its finally closes the connection now, without waiting for calls
        dials = list(self._dialing.values())
        for d in dials:
            d.cancel()
        clients = list(self._clients.values())
        for key, client in self._clients.items():
            self._closing(key, client)
        self._clients = {}
        await asyncio.gather(*(c.aclose() for c in clients), *dials, return_exceptions=True)
        while self._tasks:  # a closing task may start another (a connection error's removal)
            await asyncio.gather(*self._tasks, return_exceptions=True)
        watch, self._watch = self._watch, None
        aclose = getattr(watch, "aclose", None)
        if aclose is not None:
            await aclose()
