"""XClient's single attempt point: one call on one server (layer: client).

Rule: one attempt on one server happens in exactly one place, :meth:`AttemptPoint._attempt`, which
asks the server's circuit breaker (``Option.breaker``), runs the client plugins' ``pre_call``, gets
or dials the connection, calls, classifies how it ended as an :class:`Outcome` (:func:`classify`),
reports it to :meth:`AttemptPoint._report` (the breaker and the selector's optional ``report``) and
runs ``post_call``. It never raises, except on cancellation: the fail modes and fan-outs decide what
an outcome means. With no breaker and no plugin the attempt goes straight to the connection.

:class:`AttemptPoint` is a base of ``XClient`` (see ``xclient.py``); it is not used alone.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from ..errors import (
    CallTimeoutError,
    ClientClosedError,
    CodecError,
    ProtocolError,
    RpcxConnectionError,
    ServiceError,
)
from ..protocol.constants import AUTH_KEY, SERVER_TIMEOUT
from .breaker import BREAKER_OPEN, BreakerOpenError
from .connections import ConnectionCache
from .selector import Call, Outcome

__all__ = ["AttemptPoint", "AttemptResult", "RAW", "classify"]

log = logging.getLogger("rpcx.client")

_NO_METADATA: Mapping[str, str] = MappingProxyType({})

#: the reply type that makes an attempt send the call's Message as it is (send_raw)
RAW: Any = object()


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


class AttemptResult(NamedTuple):
    """One attempt: its outcome and either the reply or the exception.

    >>> AttemptResult(Outcome.SUCCESS, 42).unwrap()
    42
    """

    outcome: Outcome
    value: Any

    def unwrap(self) -> Any:
        if self.outcome is Outcome.SUCCESS:
            return self.value
        raise self.value


class AttemptPoint(ConnectionCache):
    """``_attempt(call, key)`` and what every attempt shares: metadata, auth, reporting (a base of XClient)."""

    #: the ``__AUTH`` token sent with every call (set by :meth:`auth`)
    _auth: str | None

    def auth(self, token: str) -> None:
        """Send ``token`` as ``__AUTH`` with every call."""
        self._auth = token

    def _begin(self, method: str, args: Any, metadata: dict[str, str] | None) -> Call:
        if self._closed:
            raise ClientClosedError("xClient is shut down")
        self._ensure_watch()
        return Call(self.service_path, method, args, MappingProxyType(dict(metadata)) if metadata else _NO_METADATA)

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
    ) -> AttemptResult:
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
            return AttemptResult(Outcome.BREAKER_OPEN, BreakerOpenError(BREAKER_OPEN))
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
            return AttemptResult(Outcome.ERROR, exc)
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
    ) -> AttemptResult:
        if deadline is not None and deadline - time.monotonic() <= 0:
            return AttemptResult(Outcome.TIMEOUT, CallTimeoutError(
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
            elif reply_type is RAW:
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

    def _done(self, key: str, start: float, outcome: Outcome, value: Any) -> AttemptResult:
        self._report(key, outcome, time.monotonic() - start)
        if outcome is not Outcome.SUCCESS:
            log.debug("%s: attempt on %s: %s: %s", self.service_path, key, outcome.name, value)
        return AttemptResult(outcome, value)

    def _report(self, key: str, outcome: Outcome, latency: float) -> None:
        """Where every attempt's outcome goes: the server's breaker and the selector's ``report``."""
        if self._breakers is not None and outcome is not Outcome.BREAKER_OPEN:
            self._breaker(key).record(outcome)
        if self._selector_report is not None:
            try:
                self._selector_report(key, outcome, latency)
            except Exception:  # noqa: BLE001 - a broken selector hook must not fail the call
                log.exception("%s: selector.report failed", self.service_path)
