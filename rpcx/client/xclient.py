"""``XClient``: calls one service across the servers discovery offers, with Go's fail modes (layer: client).

Rule: one attempt on one server happens in exactly one place, :meth:`XClient._attempt`, which asks
the server's circuit breaker (``Option.breaker``), runs the client plugins' ``pre_call``, gets or
dials the connection, calls, classifies how it ended as an :class:`Outcome`, reports it to
:meth:`XClient._report` (the breaker and the selector's optional ``report``) and runs ``post_call``.
Every fail mode, ``go``, ``oneshot``, ``broadcast``, ``fork`` and ``inform`` are loops over that method.

Retry rules are Go's (client/xclient.go): at most ``retries + 1`` attempts; only dial and connection
errors and an open breaker are retried (never a :class:`ServiceError`, a timeout, a cancellation or
a codec error);
Failtry retries the same server, Failover reselects, Failbackup races a second request after
``backup_latency``. One cached :class:`Client` per server key; a connection error drops it and the
next attempt dials again, which is how a client rides through a server restart.

Not in Go: a server that refuses a dial is not chosen again by the same call and is held out of
selection for ``Option.dial_backoff`` (when every server is held out, all are tried anyway), so a
stopped server that discovery still lists costs no calls.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from contextlib import aclosing
from types import MappingProxyType
from typing import Any, AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection, Mapping, NamedTuple

from ..codec.base import CodecRegistry
from ..errors import (
    CallTimeoutError,
    ClientClosedError,
    CodecError,
    NoServerAvailableError,
    ProtocolError,
    RpcxConnectionError,
    RpcxError,
    ServiceError,
)
from ..protocol.constants import AUTH_KEY, SERVER_TIMEOUT
from ..protocol.message import Message
from .client import Client, PushHandler
from .discovery import KVPair, ServiceDiscovery
from .options import FailMode, Option, SelectMode
from .breaker import BREAKER_OPEN, BreakerOpenError, BreakerState, CircuitBreaker
from .pending import PendingCall, Receipt
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

__all__ = ["XClient", "Call", "Outcome", "PendingCall", "Receipt", "classify"]

log = logging.getLogger("rpcx.client")

#: Go's ErrXClientNoServer text
NO_SERVER = "can not found any server"

_NO_METADATA: Mapping[str, str] = MappingProxyType({})


def classify(exc: BaseException) -> Outcome:
    """The outcome of an attempt that raised ``exc`` after the connection was made.

    >>> classify(ServiceError("boom")).name, classify(CallTimeoutError()).name
    ('SERVICE_ERROR', 'TIMEOUT')
    >>> from rpcx.errors import ConnectionClosedError
    >>> classify(ConnectionClosedError("connection is shut down")).retryable
    True
    """
    if isinstance(exc, ServiceError):
        return Outcome.SERVICE_ERROR
    # before the connection errors: TimeoutError is an OSError
    if isinstance(exc, (CallTimeoutError, TimeoutError)):
        return Outcome.TIMEOUT
    # ClientClosedError: the XClient itself was closed under the call, like a cancellation
    if isinstance(exc, (asyncio.CancelledError, ClientClosedError)):
        return Outcome.CANCELLED
    if isinstance(exc, CodecError):
        # Go reports a reply it cannot decode as a ServiceError: not retried, connection kept
        return Outcome.CODEC_ERROR
    if isinstance(exc, (RpcxConnectionError, ProtocolError, OSError)):
        return Outcome.CONNECTION_ERROR
    return Outcome.ERROR


class _Result(NamedTuple):
    """One attempt: its outcome and either the reply or the exception."""

    outcome: Outcome
    value: Any

    def unwrap(self) -> Any:
        if self.outcome is Outcome.SUCCESS:
            return self.value
        raise self.value


#: the reply type that makes an attempt send the call's Message as it is (send_raw)
_RAW: Any = object()


class XClient:
    """A client for one service path over a set of servers.

    >>> from rpcx.client import Peer2PeerDiscovery
    >>> xc = XClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery("tcp@127.0.0.1:8972"))
    >>> # reply = await xc.call("Mul", {"A": 10, "B": 20}, timeout=1.0); await xc.aclose()

    Discovery is watched from the first call on, and the watch is closed by :meth:`aclose`.
    ``SelectMode.SELECT_BY_USER`` needs :meth:`set_selector` before the first call.
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
        self.select_mode = SelectMode(select_mode)
        self.discovery = discovery
        self.option = option
        self.codecs = codecs or CodecRegistry()
        self.on_push = on_push
        self._auth: str | None = None
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
        self._clients: dict[str, Client] = {}
        self._dialing: dict[str, asyncio.Task[Client]] = {}
        #: every background task (closing a connection, draining one, the discovery watch, a
        #: Failbackup loser finishing its cancellation): held here, awaited by aclose()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._draining: dict[Client, asyncio.Task[None]] = {}
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None
        self._watch_started = False
        self._watch: AsyncIterator[list[KVPair]] | None = None
        self._watch_task: asyncio.Task[None] | None = None

    # -- configuration --------------------------------------------------------------------------
    def auth(self, token: str) -> None:
        """Send ``token`` as ``__AUTH`` with every call."""
        self._auth = token

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

    def _wrap_select(self) -> None:
        """The select function calls use: the selector's, wrapped by plugins' ``wrap_select``."""
        self._select_fn = self.plugins.wrap(self.selector.select) if self.plugins.wrap_select else self.selector.select

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

    def _update_servers(self, pairs: list[KVPair]) -> None:
        servers = filter_servers(pairs, self.option.group)
        if servers == self._servers:
            return
        self._servers = servers
        if self._holdout is not None:
            self._holdout.forget_except(servers)
        if self._breakers:
            for k in [k for k in self._breakers if k not in servers]:
                del self._breakers[k]
        self._held_applied = frozenset(self.held_out)
        self.selector.update_server(self._visible_servers())
        for key in list(self._clients):
            if key not in self._servers:
                # calls in flight on a server that left the list still get their replies (a server
                # marked inactive to drain, say); the connection closes once they are done
                self._close_when_idle(key, self._clients.pop(key))
        log.info("%s: servers now %s", self.service_path, sorted(self._servers))

    # -- background tasks and discovery -----------------------------------------------------------
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
            client = await Client.connect(key, self.option, codecs=self.codecs, on_push=self.on_push)
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

    # -- selection ------------------------------------------------------------------------------
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

    # -- one attempt ----------------------------------------------------------------------------
    def _metadata(self, metadata: Any, deadline: float | None) -> dict[str, str]:
        md = dict(metadata) if metadata else {}
        if self._auth is not None:
            md[AUTH_KEY] = self._auth
        if deadline is not None:
            md[SERVER_TIMEOUT] = str(int((deadline - time.monotonic()) * 1000))
        return md

    async def _attempt(
        self, call: Call, key: str, *, reply_type: Any = None, deadline: float | None = None,
        response_metadata: dict[str, str] | None = None, oneway: bool = False,
    ) -> _Result:
        """One attempt of ``call`` on server ``key``: the breaker's permission, the plugins'
        ``pre_call``, then connect (or reuse), call, classify, report, then ``post_call``.

        Never raises except on cancellation (reported first) or when the deadline had already
        passed (nothing was tried, nothing is reported).
        """
        if (self._breakers is None and not self.plugins) or (deadline is not None and deadline <= time.monotonic()):
            # no breaker and no plugin, or nothing will be tried (the deadline has passed)
            return await self._attempt_on(call, key, reply_type, deadline, response_metadata, oneway)
        if self._breakers is not None and not self._breaker(key).allow():
            self._report(key, Outcome.BREAKER_OPEN, 0.0)
            return _Result(Outcome.BREAKER_OPEN, BreakerOpenError(BREAKER_OPEN))
        try:
            for h in self.plugins.pre_call:
                r = h(call, key)
                if inspect.isawaitable(r):
                    r = await r
                if isinstance(r, Mapping) and r:  # metadata for this attempt (a tracing plugin's trace context)
                    call = Call(call.service_path, call.service_method, call.args, MappingProxyType({**call.metadata, **r}))
        except Exception as exc:  # noqa: BLE001 - Go: PreCall's error is the call's error
            if self._breakers is not None:
                self._breakers[key].record(Outcome.CANCELLED)  # nothing was tried: free a trial slot
            return _Result(Outcome.ERROR, exc)
        result = await self._attempt_on(call, key, reply_type, deadline, response_metadata, oneway)
        for h in self.plugins.post_call:
            try:
                r = h(call, key, result.outcome, result.value)
                if inspect.isawaitable(r):
                    await r
            except Exception:  # noqa: BLE001 - the call's result stands
                log.exception("%s: client plugin post_call failed", self.service_path)
        return result

    async def _attempt_on(
        self, call: Call, key: str, reply_type: Any, deadline: float | None,
        response_metadata: dict[str, str] | None, oneway: bool,
    ) -> _Result:
        if deadline is not None and deadline - time.monotonic() <= 0:
            return _Result(Outcome.TIMEOUT, CallTimeoutError(
                f"call {call.service_path}.{call.service_method}: deadline exceeded"))
        start = time.monotonic()
        client = self._clients.get(key)
        if client is None or client.closed or self._closed:
            if client is not None and client.closed:
                self._remove_client(key, client)  # it closed by itself (the server went away, idle)
            try:
                # the dial is shared and bounded by connect_timeout; this caller waits no longer
                # than its own deadline
                async with asyncio.timeout(None if deadline is None else deadline - time.monotonic()) as cm:
                    client = await self._get_client(key)
            except TimeoutError as exc:
                if not cm.expired():
                    return self._done(key, start, Outcome.DIAL_ERROR, exc)
                return self._done(key, start, Outcome.TIMEOUT, CallTimeoutError(
                    f"call {call.service_path}.{call.service_method}: deadline exceeded while dialling {key}"))
            except asyncio.CancelledError:
                self._report(key, Outcome.CANCELLED, time.monotonic() - start)
                raise
            except ClientClosedError as exc:
                return self._done(key, start, Outcome.CANCELLED, exc)
            except Exception as exc:  # noqa: BLE001 - whatever the dial raised, no connection was made
                return self._done(key, start, Outcome.DIAL_ERROR, exc)
        try:
            md = self._metadata(call.metadata, deadline)
            if oneway:
                await client.oneway(call.service_path, call.service_method, call.args, metadata=md)
                reply = None
            elif reply_type is _RAW:
                # send_raw: the request Message as it came (a gateway's), its metadata with ours
                reply = await client.send_raw(
                    call.args.replace(metadata=md),
                    timeout=None if deadline is None else deadline - time.monotonic(),
                )
            else:
                reply = await client.call(
                    call.service_path, call.service_method, call.args, reply_type, metadata=md,
                    response_metadata=response_metadata,
                    timeout=None if deadline is None else deadline - time.monotonic(),
                )
        except asyncio.CancelledError:
            self._report(key, Outcome.CANCELLED, time.monotonic() - start)
            raise
        except Exception as exc:  # noqa: BLE001 - classified, reported, handed to the fail mode
            outcome = classify(exc)
            if outcome is Outcome.CONNECTION_ERROR:
                self._remove_client(key, client)
            return self._done(key, start, outcome, exc)
        return self._done(key, start, Outcome.SUCCESS, reply)

    def _done(self, key: str, start: float, outcome: Outcome, value: Any) -> _Result:
        self._report(key, outcome, time.monotonic() - start)
        if outcome is not Outcome.SUCCESS:
            log.debug("%s: attempt on %s: %s: %s", self.service_path, key, outcome.name, value)
        return _Result(outcome, value)

    def _report(self, key: str, outcome: Outcome, latency: float) -> None:
        """Where every attempt's outcome goes: the server's breaker and the selector's ``report``."""
        if self._breakers is not None and outcome is not Outcome.BREAKER_OPEN:
            self._breaker(key).record(outcome)
        if self._selector_report is not None:
            try:
                self._selector_report(key, outcome, latency)
            except Exception:  # noqa: BLE001 - a broken selector hook must not fail the call
                log.exception("%s: selector.report failed", self.service_path)

    # -- calls ----------------------------------------------------------------------------------
    def _begin(self, method: str, args: Any, metadata: dict[str, str] | None) -> Call:
        if self._closed:
            raise ClientClosedError("xClient is shut down")
        self._ensure_watch()
        return Call(self.service_path, method, args, MappingProxyType(dict(metadata)) if metadata else _NO_METADATA)

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
        call = self._begin(method, args, metadata)
        timeout = timeout if timeout is not None else self.option.default_timeout
        deadline = time.monotonic() + timeout if timeout is not None else None
        if self.fail_mode == FailMode.FAILBACKUP:
            return await self._call_backup(call, reply_type, response_metadata, deadline)
        if self.fail_mode == FailMode.FAILFAST:
            key = self._select(call)
            result = await self._attempt(call, key, reply_type=reply_type, deadline=deadline,
                                         response_metadata=response_metadata)
            return result.unwrap()
        return await self._call_retrying(call, reply_type, response_metadata, deadline)

    async def _call_retrying(
        self, call: Call, reply_type: Any, response_metadata: dict[str, str] | None, deadline: float | None,
    ) -> Any:
        last: BaseException | None = None
        key: str | None = None
        refused: set[str] = set()
        for i in range(self.option.retries + 1):
            if i and self.option.retry_interval:
                await asyncio.sleep(self.option.retry_interval)
            if key is None or self.fail_mode == FailMode.FAILOVER:
                try:
                    key = self._select(call, refused)
                except NoServerAvailableError as exc:
                    last = exc  # Go selects again on the next attempt
                    continue
            result = await self._attempt(call, key, reply_type=reply_type, deadline=deadline,
                                         response_metadata=response_metadata)
            if result.outcome is Outcome.SUCCESS or not result.outcome.retryable:
                return result.unwrap()
            if result.outcome in (Outcome.DIAL_ERROR, Outcome.BREAKER_OPEN):
                refused.add(key)
            last = result.value
        assert last is not None
        raise last

    async def _call_backup(
        self, call: Call, reply_type: Any, response_metadata: dict[str, str] | None, deadline: float | None,
    ) -> Any:
        async def one() -> tuple[Any, dict[str, str]]:
            md: dict[str, str] = {}
            result = await self._attempt(call, self._select(call), reply_type=reply_type, deadline=deadline,
                                         response_metadata=md)
            return result.unwrap(), md

        def won(t: asyncio.Future[tuple[Any, dict[str, str]]]) -> Any:
            reply, md = t.result()
            if response_metadata is not None:
                response_metadata.update(md)
            return reply

        first = asyncio.ensure_future(one())
        done, _ = await asyncio.wait({first}, timeout=self.option.backup_latency)
        if done:
            return won(first)
        second = asyncio.ensure_future(one())
        tasks = {first, second}
        try:
            while tasks:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                # look at every finished one, so no failure is left unretrieved
                winners = [t for t in done if t.exception() is None]
                if winners:
                    return won(winners[0])
            # both failed: report the first request's error, as Go reports call1's
            exc = first.exception()
            assert exc is not None
            raise exc
        finally:
            for t in (first, second):
                if not t.done():
                    t.cancel()  # the loser: abandoned, its connection kept
                    self._track(t)

    async def send_raw(self, msg: Message, *, timeout: float | None = None) -> Message:
        """Send a request :class:`Message` built elsewhere (a gateway's: payload already encoded,
        its serialize type, metadata and method as they came) to a selected server, applying the
        fail mode; return the raw response frame (Go's ``XClient.SendRaw``). An error response is
        returned, not raised (it is an answer; only dial and connection errors are retried); the
        deadline goes to the server as ``__ServerTimeout`` as for :meth:`call`."""
        call = self._begin(msg.service_method, msg, msg.metadata)
        timeout = timeout if timeout is not None else self.option.default_timeout
        deadline = time.monotonic() + timeout if timeout is not None else None
        if self.fail_mode == FailMode.FAILBACKUP:
            reply = await self._call_backup(call, _RAW, None, deadline)
        elif self.fail_mode == FailMode.FAILFAST:
            reply = (await self._attempt(call, self._select(call), reply_type=_RAW, deadline=deadline)).unwrap()
        else:
            reply = await self._call_retrying(call, _RAW, None, deadline)
        assert isinstance(reply, Message)
        return reply

    async def oneshot(self, method: str, args: Any, *, metadata: dict[str, str] | None = None) -> None:
        """Send a oneway call to a selected server and return once it is written (one attempt)."""
        call = self._begin(method, args, metadata)
        (await self._attempt(call, self._select(call), oneway=True)).unwrap()

    def go(
        self,
        method: str,
        args: Any,
        reply_type: Any = None,
        *,
        metadata: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> PendingCall:
        """Start a call and return at once (Go's ``Go``): await the :class:`PendingCall` for the
        reply, or read its ``reply``, ``error`` and ``response_metadata`` when it is done. It goes
        through the fail mode like :meth:`call` (Go's ``Go`` ignores it). Needs a running loop."""
        self._begin(method, args, metadata)  # a closed XClient fails here, not in the task
        md: dict[str, str] = {}
        task = asyncio.get_running_loop().create_task(
            self.call(method, args, reply_type, metadata=metadata, response_metadata=md, timeout=timeout))
        return PendingCall(method, task, md)

    async def broadcast(
        self, method: str, args: Any, reply_type: Any = None, *, metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None, timeout: float = 60.0,
    ) -> Any:
        """Call every server; succeed only if all do (Go's ``Broadcast``). Returns the first reply to
        arrive, and raises at the first failure without waiting for the others (they finish in the
        background). Servers that cannot be dialled (or whose breaker is open) are skipped, as Go
        skips them; none left raises :class:`NoServerAvailableError`. Fail and select modes do not apply."""
        first: tuple[Any, dict[str, str]] | None = None
        # aclosing: an early return stops the fan-out now (its unfinished attempts move to the background)
        async with aclosing(self._fan_out(method, args, reply_type, metadata, timeout)) as results:
            async for _key, result, md in results:
                if result.outcome is not Outcome.SUCCESS:
                    result.unwrap()
                if first is None:
                    first = (result.value, md)
        if first is None:
            raise NoServerAvailableError(NO_SERVER)
        if response_metadata is not None:
            response_metadata.update(first[1])
        return first[0]

    async def fork(
        self, method: str, args: Any, reply_type: Any = None, *, metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None, timeout: float = 60.0,
    ) -> Any:
        """Call every server; return the first success without waiting for the others (Go's ``Fork``).
        When all fail, raise the first failure. Servers that cannot be dialled are skipped, as in
        :meth:`broadcast`."""
        failure: _Result | None = None
        async with aclosing(self._fan_out(method, args, reply_type, metadata, timeout)) as results:
            async for _key, result, md in results:
                if result.outcome is Outcome.SUCCESS:
                    if response_metadata is not None:
                        response_metadata.update(md)
                    return result.value
                failure = failure or result
        if failure is None:
            raise NoServerAvailableError(NO_SERVER)
        return failure.unwrap()

    async def inform(
        self, method: str, args: Any, reply_type: Any = None, *, metadata: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> list[Receipt]:
        """Call every server and wait for all; return one :class:`Receipt` per server in the order they
        answered (Go's ``Inform``). Per-server errors are in the receipts, not raised. Servers that
        cannot be dialled are skipped as Go skips them; none left raises :class:`NoServerAvailableError`."""
        async with aclosing(self._fan_out(method, args, reply_type, metadata, timeout)) as results:
            receipts = [
                Receipt(key.split("@", 1)[-1], result.value if result.outcome is Outcome.SUCCESS else None,
                        None if result.outcome is Outcome.SUCCESS else result.value, md)
                async for key, result, md in results
            ]
        if not receipts:
            raise NoServerAvailableError(NO_SERVER)
        return receipts

    async def _fan_out(
        self, method: str, args: Any, reply_type: Any, metadata: dict[str, str] | None, timeout: float,
    ) -> AsyncGenerator[tuple[str, _Result, dict[str, str]], None]:
        """One attempt on every listed server at once; yield ``(key, result, response metadata)`` as
        each ends, leaving out servers that could not be dialled or whose breaker is open (Go's
        fan-outs skip a server ``getCachedClient`` fails on). Attempts still running when the consumer
        stops go on in the background, tracked so :meth:`aclose` waits for them."""
        call = self._begin(method, args, metadata)
        deadline = time.monotonic() + timeout

        async def one(key: str) -> tuple[str, _Result, dict[str, str]]:
            md: dict[str, str] = {}
            return key, await self._attempt(call, key, reply_type=reply_type, deadline=deadline,
                                            response_metadata=md), md

        pending = {asyncio.ensure_future(one(k)) for k in self._servers}
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    key, result, md = t.result()
                    if result.outcome not in (Outcome.DIAL_ERROR, Outcome.BREAKER_OPEN):
                        yield key, result, md
        finally:
            for t in pending:
                self._track(t)

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

    async def __aenter__(self) -> "XClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
