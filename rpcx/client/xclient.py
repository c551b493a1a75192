"""``XClient``: calls one service across the servers discovery offers, with Go's fail modes (layer: client).

One cached :class:`Client` per server key; a transport failure drops it and the next attempt dials
again, which is how a client rides through a server restart. Retry rules are Go's
(client/xclient.go): at most ``retries + 1`` attempts; a :class:`ServiceError` or a timeout is never
retried; Failtry retries the same server, Failover reselects, Failbackup races a second request
after ``backup_latency``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator

from ..codec.base import CodecRegistry
from ..errors import (
    CallTimeoutError,
    ClientClosedError,
    CodecError,
    NoServerAvailableError,
    RpcxError,
    ServiceError,
)
from ..protocol.constants import AUTH_KEY, SERVER_TIMEOUT
from .client import Client, PushHandler
from .discovery import KVPair, ServiceDiscovery
from .options import FailMode, Option, SelectMode
from .selector import Selector, filter_servers, new_selector

__all__ = ["XClient"]

log = logging.getLogger("rpcx.client")

#: errors that say nothing about the connection: never retried, and the connection is kept. A
#: CodecError is the payload's fault (Go reports a reply decode failure as a ServiceError).
_NOT_RETRIED = (ServiceError, CallTimeoutError, CodecError, ClientClosedError)


class XClient:
    """A client for one service path over a set of servers.

    >>> from rpcx.client import Peer2PeerDiscovery
    >>> xc = XClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery("tcp@127.0.0.1:8972"))
    >>> # reply = await xc.call("Mul", {"A": 10, "B": 20}, timeout=1.0)
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
        if discovery is None:
            raise ValueError("XClient needs a discovery, e.g. Peer2PeerDiscovery('tcp@127.0.0.1:8972')")
        self.service_path = service_path
        self.fail_mode = FailMode(fail_mode)
        self.select_mode = select_mode
        self.discovery = discovery
        self.option = option
        self.codecs = codecs or CodecRegistry()
        self.on_push = on_push
        self._auth: str | None = None
        self._servers = filter_servers(discovery.get_services(), option.group)
        self.selector: Selector = new_selector(select_mode, self._servers)
        self._clients: dict[str, Client] = {}
        self._dialing: dict[str, asyncio.Task[Client]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._draining: set[Client] = set()
        self._closed = False
        self._watch_task: asyncio.Task[None] | None = None
        self._watch: AsyncIterator[list[KVPair]] | None = discovery.watch()

    # -- configuration --------------------------------------------------------------------------
    def auth(self, token: str) -> None:
        """Send ``token`` as ``__AUTH`` with every call."""
        self._auth = token

    def set_selector(self, selector: Selector) -> None:
        """Use a custom selector (Go's ``SelectByUser``)."""
        selector.update_server(self._servers)
        self.selector = selector

    @property
    def servers(self) -> dict[str, str]:
        return dict(self._servers)

    def _update_servers(self, pairs: list[KVPair]) -> None:
        self._servers = filter_servers(pairs, self.option.group)
        self.selector.update_server(self._servers)
        for key in list(self._clients):
            if key not in self._servers:
                # calls in flight on a server that left the list still get their replies (a server
                # marked inactive to drain, say); the connection closes once they are done
                self._close_when_idle(self._clients.pop(key))
        log.info("%s: servers now %s", self.service_path, sorted(self._servers))

    def _ensure_watch(self) -> None:
        if self._watch is not None and self._watch_task is None:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch_loop())

    async def _watch_loop(self) -> None:
        assert self._watch is not None
        async for pairs in self._watch:
            self._update_servers(pairs)

    # -- connections ----------------------------------------------------------------------------
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
        return await asyncio.shield(task)

    async def _dial(self, key: str) -> Client:
        client = await Client.connect(key, self.option, codecs=self.codecs, on_push=self.on_push)
        if self._closed:  # aclose() ran while we dialled: do not leak the connection
            await client.aclose()
            raise ClientClosedError("xClient is shut down")
        self._clients[key] = client
        return client

    def _dial_done(self, key: str, task: asyncio.Task[Client]) -> None:
        if self._dialing.get(key) is task:
            del self._dialing[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so a dial nobody waits for any more logs nothing

    def _close_when_idle(self, client: Client) -> None:
        async def close() -> None:
            try:
                while client.pending and not client.closed:
                    await asyncio.sleep(0.05)
            finally:
                self._draining.discard(client)
                await client.aclose()

        self._draining.add(client)
        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _remove_client(self, key: str, client: Client | None) -> None:
        if client is not None and self._clients.get(key) is client:
            del self._clients[key]
            asyncio.get_running_loop().create_task(client.aclose())

    def _select(self, method: str, args: Any) -> str:
        key = self.selector.select(self.service_path, method, args)
        if not key:
            raise NoServerAvailableError(f"can not found any server for {self.service_path}")
        return key

    # -- calls ----------------------------------------------------------------------------------
    def _metadata(self, metadata: dict[str, str] | None, deadline: float | None) -> dict[str, str]:
        md = dict(metadata) if metadata else {}
        if self._auth is not None:
            md[AUTH_KEY] = self._auth
        if deadline is not None:
            md[SERVER_TIMEOUT] = str(int((deadline - time.monotonic()) * 1000))
        return md

    async def call(
        self,
        method: str,
        args: Any,
        reply_type: Any = None,
        *,
        metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method`` on a selected server, applying the fail mode. Returns the decoded reply."""
        if self._closed:
            raise ClientClosedError("xClient is shut down")
        self._ensure_watch()
        timeout = timeout if timeout is not None else self.option.default_timeout
        deadline = time.monotonic() + timeout if timeout is not None else None
        if self.fail_mode == FailMode.FAILBACKUP:
            return await self._call_backup(method, args, reply_type, metadata, response_metadata, deadline)

        async def attempt(client: Client) -> Any:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise CallTimeoutError(f"call {self.service_path}.{method}: deadline exceeded")
            return await client.call(
                self.service_path, method, args, reply_type,
                metadata=self._metadata(metadata, deadline),
                response_metadata=response_metadata, timeout=remaining,
            )

        if self.fail_mode == FailMode.FAILFAST:
            key = self._select(method, args)
            client = await self._get_client(key)
            try:
                return await attempt(client)
            except _NOT_RETRIED:
                raise
            except RpcxError:
                self._remove_client(key, client)
                raise
        return await self._call_retrying(method, args, attempt)

    async def _call_retrying(self, method: str, args: Any, attempt: Any) -> Any:
        retries = self.option.retries
        last: BaseException | None = None
        key: str | None = None
        for i in range(retries + 1):
            if i and self.option.retry_interval:
                await asyncio.sleep(self.option.retry_interval)
            client = None
            try:
                if key is None or self.fail_mode == FailMode.FAILOVER:
                    key = self._select(method, args)
                client = await self._get_client(key)
                return await attempt(client)
            except _NOT_RETRIED:
                raise
            except RpcxError as exc:
                last = exc
                if key is not None:
                    self._remove_client(key, client)
                log.debug("%s.%s attempt %d on %s failed: %s", self.service_path, method, i + 1, key, exc)
        assert last is not None
        raise last

    async def _call_backup(
        self, method: str, args: Any, reply_type: Any, metadata: dict[str, str] | None,
        response_metadata: dict[str, str] | None, deadline: float | None,
    ) -> Any:
        async def one() -> Any:
            key = self._select(method, args)
            client = await self._get_client(key)
            remaining = None if deadline is None else deadline - time.monotonic()
            md: dict[str, str] = {}
            try:
                reply = await client.call(
                    self.service_path, method, args, reply_type,
                    metadata=self._metadata(metadata, deadline), response_metadata=md, timeout=remaining,
                )
            except _NOT_RETRIED:
                raise
            except RpcxError:
                self._remove_client(key, client)
                raise
            if response_metadata is not None:
                response_metadata.update(md)
            return reply

        first = asyncio.ensure_future(one())
        done, _ = await asyncio.wait({first}, timeout=self.option.backup_latency)
        if done:
            return first.result()
        second = asyncio.ensure_future(one())
        tasks = {first, second}
        try:
            while tasks:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    if t.exception() is None:
                        return t.result()
                if not tasks:
                    # both failed: report the first request's error, as Go reports call1's
                    exc = first.exception()
                    assert exc is not None
                    raise exc
            raise AssertionError("unreachable")
        finally:
            for t in (first, second):
                if not t.done():
                    t.cancel()

    async def oneshot(self, method: str, args: Any, *, metadata: dict[str, str] | None = None) -> None:
        """Send a oneway call to a selected server and return once it is written."""
        if self._closed:
            raise ClientClosedError("xClient is shut down")
        self._ensure_watch()
        key = self._select(method, args)
        client = await self._get_client(key)
        await client.oneway(self.service_path, method, args, metadata=self._metadata(metadata, None))

    async def broadcast(self, method: str, args: Any, reply_type: Any = None, *, timeout: float = 60.0) -> Any:
        """Call every server; succeed only if all do (Go: ``Broadcast``). Returns the first reply."""
        results = await self._all(method, args, reply_type, timeout)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return results[0] if results else None

    async def fork(self, method: str, args: Any, reply_type: Any = None, *, timeout: float = 60.0) -> Any:
        """Call every server; return the first success (Go: ``Fork``)."""
        results = await self._all(method, args, reply_type, timeout)
        for r in results:
            if not isinstance(r, BaseException):
                return r
        if not results:
            raise NoServerAvailableError(f"can not found any server for {self.service_path}")
        raise results[0]

    async def _all(self, method: str, args: Any, reply_type: Any, timeout: float) -> list[Any]:
        if self._closed:
            raise ClientClosedError("xClient is shut down")
        deadline = time.monotonic() + timeout

        async def one(key: str) -> Any:
            client = await self._get_client(key)
            return await client.call(
                self.service_path, method, args, reply_type,
                metadata=self._metadata(None, deadline), timeout=deadline - time.monotonic(),
            )

        return list(await asyncio.gather(*(one(k) for k in self._servers), return_exceptions=True))

    # -- lifecycle ------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close every connection and stop watching discovery. Idempotent."""
        self._closed = True
        if self._watch_task is not None:
            self._watch_task.cancel()
        clients, self._clients = list(self._clients.values()) + list(self._draining), {}
        for t in list(self._closing):
            t.cancel()
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)

    async def __aenter__(self) -> "XClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
