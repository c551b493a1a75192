"""The HTTP/1.1 side of a connection the server handed to the gateway (layer: gateway; h11 is the
sans-IO HTTP parser, this module its asyncio adapter).

One :class:`HttpConnection` per connection. Requests are read with h11 and answered in order, one
at a time (keep-alive; pipelined requests wait in h11's buffer, and reading pauses when that buffer
passes :data:`MAX_PIPELINED_BYTES`). The first request decides what the connection speaks for
its whole life, as Go's cmux does: JSON-RPC when it carries ``X-JSONRPC-2.0: true`` (and JSON-RPC
is on), HTTP invoke otherwise (if on); a connection neither claims is closed. A request whose
call the server can serve without waiting is answered inside the read that completed it
(:meth:`GatewayHttp._start`, the server's ``serve_now``); the others in a task.

Bounds: the request line and headers at most :data:`MAX_HEADER_BYTES` (431 past it), the body at
most the gateway's ``max_body`` (the server's ``Limits.max_message_length``; 413), and a request
that has started must be complete within its ``frame_timeout`` (the server's; the slowloris guard:
the connection is closed).
Malformed HTTP gets h11's 400 and a close; nothing here affects other connections.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Optional

import h11

from .gohttp import canonical, detect_content_type
from .invoke import Answer, Pending, invoke_now
from .invoke import answer as answer_of
from .jsonrpc import jsonrpc_now, serve_jsonrpc

if TYPE_CHECKING:
    from . import Gateway

__all__ = ["GatewayHttp", "HttpConnection", "MAX_HEADER_BYTES", "MAX_PIPELINED_BYTES"]

log = logging.getLogger("rpcx.gateway")

#: request line plus headers (Go's http.Server allows 1 MiB; h11's default is 16 KiB)
MAX_HEADER_BYTES = 64 * 1024
#: bytes of pipelined requests buffered while one is being answered, before reading pauses
MAX_PIPELINED_BYTES = 256 * 1024


class GatewayHttp(asyncio.Protocol):
    """What every HTTP connection of the gateway does, whichever parser reads its requests: the
    protocol choice, the console, CORS, HTTP invoke or JSON-RPC, Go's answer headers, the
    slowloris timer and write flow control. A subclass reads requests, calls :meth:`_serve` with
    each whole one (one at a time), and writes answers (``_send``, ``_reject``, ``_next_cycle``)."""

    def __init__(self, peer: Any, gateway: "Gateway") -> None:
        self.peer = peer
        self.gateway = gateway
        self.transport: Optional[asyncio.Transport] = None
        #: "jsonrpc" or "invoke", chosen by the first request
        self.kind: Optional[str] = None
        self._task: Optional[asyncio.Task[None]] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._reading_paused = False
        #: the peer is not reading our answers (asyncio's pause_writing): answer nothing more
        self._write_blocked = False
        #: an answer was written while write-blocked: the next request waits for resume_writing
        self._waiting_to_write = False
        self._closed = False
        #: a request is being answered (by a task, or waiting for the peer to read)
        self._busy = False
        self.max_body = gateway.max_body

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.peer is None:
            self.peer = transport.get_extra_info("peername")
        if self.gateway.connections is not None:
            self.gateway.connections.add(self)

    def pause_writing(self) -> None:
        # the ServerConnection also stops reading (its _update_reading); pipelined requests already
        # buffered must not be answered into a transport buffer that is not draining
        self._write_blocked = True

    def resume_writing(self) -> None:
        self._write_blocked = False
        if self._waiting_to_write and not self._closed:
            self._waiting_to_write = False
            self._next_cycle()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._closed = True
        self._cancel_timer()
        if self.gateway.connections is not None:
            self.gateway.connections.discard(self)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    # -- what a parser provides ---------------------------------------------------------------
    def _send(self, answer: Answer, head: bool = False) -> None:
        raise NotImplementedError

    def _ready_for_next(self) -> bool:
        """The answer is written: get ready for the next request (True), or close (False)."""
        raise NotImplementedError

    def _next(self) -> None:
        """Answer the next whole request, if one is in and none is being answered."""
        raise NotImplementedError

    def _done_with_request(self) -> None:
        """Forget the request just answered."""

    # -- serving ------------------------------------------------------------------------------
    def _start(self, raw_method: bytes, raw_target: bytes, raw_headers: Any, body: bytes) -> Optional[Answer]:
        """Begin answering one whole request (whichever parser read it): its answer when it is
        ready at once (most calls: the server serves them without a task, see
        :meth:`~rpcx.server.dispatch.Dispatcher.serve_now`), else None: a task answers it and then
        calls :meth:`_finish` (``_busy`` is set meanwhile), or the connection was closed."""
        h = _header_dict(raw_headers)
        method = raw_method.decode("latin-1")
        target = raw_target.decode("latin-1")
        gateway = self.gateway
        console = gateway.console
        if console is not None and console.owns(target):
            # the console's page and endpoints, whatever the connection speaks otherwise
            self._later(console.serve(gateway.handle, method, target, h, body, self.peer), method, h, True)
            return None
        if self.kind is None:
            self.kind = gateway.choose(h)
            if self.kind is None:
                log.info("closing HTTP connection from %s: no gateway protocol takes it", self.peer)
                self._close()
                return None
        cors = gateway.cors
        try:
            if cors is not None and cors.is_preflight(method, h):
                # rs/cors answers preflights itself, before the router or JSON-RPC see them
                return Answer(cors.options_success_status, cors.preflight(h))
            if self.kind == "jsonrpc":
                answer = jsonrpc_now(gateway.handle_now, h, body, self.peer)
                if answer is None:
                    self._later(serve_jsonrpc(gateway.handle, h, body, self.peer), method, h)
                    return None
            else:
                ready = invoke_now(gateway.handle_now, method, target, h, body, self.peer)
                if isinstance(ready, Pending):
                    self._later(_answer_later(gateway.handle, ready, self.peer), method, h)
                    return None
                answer = ready
        except Exception as exc:  # noqa: BLE001 - one bad request must not kill the connection silently
            log.exception("gateway request from %s failed", self.peer)
            return _failure(exc)
        return self._with_cors(answer, method, h)

    def _with_cors(self, answer: Answer, method: str, h: dict[str, str]) -> Answer:
        cors = self.gateway.cors
        if cors is not None and not cors.is_preflight(method, h):
            answer.headers = {**cors.actual(method, h), **answer.headers}
        return answer

    def _later(self, work: Awaitable[Answer], method: str, h: dict[str, str], console: bool = False) -> None:
        """Answer the request in a task (a call that has to wait, a batch, the console)."""
        self._busy = True
        self._task = asyncio.get_running_loop().create_task(self._await_answer(work, method, h, console))

    async def _await_answer(self, work: Awaitable[Answer], method: str, h: dict[str, str], console: bool) -> None:
        try:
            answer = await work
        except Exception as exc:  # noqa: BLE001 - as in _start: answered, the connection carries on
            log.exception("%s request from %s failed", "console" if console else "gateway", self.peer)
            answer = _failure(exc)
        else:
            if not console:
                answer = self._with_cors(answer, method, h)
        self._finish(answer, method)

    def _finish(self, answer: Answer, method: str) -> None:
        """Write the answer a task made, then go on with the next request (or wait for the peer to
        read)."""
        if self._answered(answer, method == "HEAD"):
            self._next()

    def _answered(self, answer: Answer, head: bool) -> bool:
        """Write ``answer``; True when the next request may be taken now (the connection is open,
        the peer reads, keep-alive). Otherwise ``_busy`` stays set until ``resume_writing``."""
        self._send(answer, head=head)
        return self._after_answer()

    def _after_answer(self) -> bool:
        """The answer is sent: True when the next request may be taken now."""
        self._done_with_request()
        if self._closed:
            return False
        if self._write_blocked:
            self._busy = True
            self._waiting_to_write = True
            return False
        return self._ready_for_next()

    def _next_cycle(self) -> None:
        if self._ready_for_next():
            self._next()

    def _fields(self, answer: Answer) -> list[tuple[str, bytes]]:
        """The answer's header fields as Go's net/http writes them: the handler's headers sorted,
        then ``Date``, ``Content-Length`` and a sniffed ``Content-Type`` when the handler set none."""
        headers = [(k, _field_value(v)) for k, v in sorted(answer.headers.items())]
        headers.append(("Date", _http_date()))
        if answer.status not in (204, 304):  # net/http sends no length where no body may be
            headers.append(("Content-Length", str(len(answer.body)).encode()))
        if answer.body and "Content-Type" not in answer.headers:
            headers.append(("Content-Type", detect_content_type(answer.body).encode()))
        return headers

    # -- the slowloris guard ------------------------------------------------------------------
    def _arm_timer(self) -> None:
        timeout = self.gateway.frame_timeout
        if self._timer is None and timeout is not None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(timeout, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        log.info("closing HTTP connection from %s: request not complete after %ss", self.peer,
                 self.gateway.frame_timeout)
        self._close()

    def _close(self) -> None:
        self._cancel_timer()
        if not self._closed and self.transport is not None:
            self._closed = True
            self.transport.close()


_date_cache: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    """``Date``'s value, made once a second (formatting it per answer is measurable)."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True).encode())
    return _date_cache[1]


async def _answer_later(handle: Any, pending: Pending, peer: Any) -> Answer:
    return answer_of(pending, await handle(pending.req, peer))


def _failure(exc: Exception) -> Answer:
    return Answer(500, {"Content-Type": "text/plain; charset=utf-8"}, f"{exc}\n".encode())


#: raw (lower-case) header names seen -> Go's canonical spelling; bounded (names come from peers)
_CANONICAL: dict[bytes, str] = {}


def _header_dict(raw_headers: Any) -> dict[str, str]:
    """Canonical header name -> its first value, as Go's ``Header.Get`` reads them.

    >>> _header_dict([(b"x-rpcx-meta", b"a=1"), (b"x-rpcx-meta", b"b=2")])
    {'X-Rpcx-Meta': 'a=1'}
    """
    h: dict[str, str] = {}
    for name, value in raw_headers:
        key = _CANONICAL.get(name)
        if key is None:
            key = canonical(name.decode("latin-1"))
            if len(_CANONICAL) < 1024:
                _CANONICAL[name] = key
        if key not in h:
            h[key] = value.decode("latin-1")
    return h


class HttpConnection(GatewayHttp):
    """The gateway's handler of one HTTP connection read with h11, the definition of the gateway's
    HTTP behaviour (made by :class:`~rpcx.gateway.Gateway`; :mod:`rpcx.gateway.fasthttp` is the same
    with httptools)."""

    def __init__(self, peer: Any, gateway: "Gateway") -> None:
        super().__init__(peer, gateway)
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._request: Optional[h11.Request] = None
        self._body = bytearray()

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        try:
            self.h11.receive_data(data)
        except RuntimeError:  # data after the client's close: ignore it
            return
        if self._busy:
            if len(self.h11.trailing_data[0]) > MAX_PIPELINED_BYTES and not self._reading_paused:
                self._reading_paused = True
                self.transport.pause_reading()  # type: ignore[union-attr]
            return
        self._next()

    def eof_received(self) -> bool:
        try:
            self.h11.receive_data(b"")
        except RuntimeError:
            pass
        if not self._busy:
            self._next()
        return True  # we close once the answer owed is written

    def _next(self) -> None:
        """Take events until a whole request is in (then answer it) or more bytes are needed."""
        while not self._closed:
            try:
                ev = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._reject(exc.error_status_hint, str(exc))
                return
            if ev is h11.NEED_DATA:
                if self.h11.their_state is h11.IDLE and not self.h11.trailing_data[0]:
                    self._cancel_timer()  # idle between requests: Go's http.Server keeps it
                else:
                    self._arm_timer()
                return
            if ev is h11.PAUSED:
                return
            if isinstance(ev, h11.Request):
                self._request, self._body = ev, bytearray()
                if ev.http_version not in (b"1.0", b"1.1"):
                    self._reject(505, f"HTTP/{ev.http_version.decode()} is not supported")
                    return
                # h11 bounds a head that arrives in pieces; one that arrives whole is measured here
                if len(ev.target) + sum(len(n) + len(v) + 4 for n, v in ev.headers) > MAX_HEADER_BYTES:
                    self._reject(431, "request headers too large")
                    return
                length = _content_length(ev)
                if self.max_body and length is not None and length > self.max_body:
                    self._reject(413, f"body of {length} bytes over the limit of {self.max_body}")
                    return
                self._arm_timer()
            elif isinstance(ev, h11.Data):
                self._body += ev.data
                if self.max_body and len(self._body) > self.max_body:
                    self._reject(413, f"body over the limit of {self.max_body} bytes")
                    return
            elif isinstance(ev, h11.EndOfMessage):
                self._cancel_timer()
                req = self._request
                assert req is not None
                answer = self._start(req.method, req.target, req.headers, bytes(self._body))
                if answer is None or not self._answered(answer, req.method == b"HEAD"):
                    return  # a task answers it, the peer is not reading, or the connection closed
            elif isinstance(ev, h11.ConnectionClosed):
                self._close()
                return

    def _done_with_request(self) -> None:
        self._body = bytearray()
        self._request = None

    def _ready_for_next(self) -> bool:
        """The answer is written: ready for the next request (keep-alive), or close."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self._busy = False
            if self._reading_paused:
                self._reading_paused = False
                self.transport.resume_reading()  # type: ignore[union-attr]
            return True
        self._close()
        return False

    # -- writing answers ----------------------------------------------------------------------
    def _send(self, answer: Answer, head: bool = False) -> None:
        """Write ``answer`` with h11 (header fields from :meth:`_fields`)."""
        if self._closed:
            return
        headers: list[tuple[str, Any]] = list(self._fields(answer))
        if "Connection" not in answer.headers and h11.MUST_CLOSE in (self.h11.their_state, self.h11.our_state):
            headers.append(("Connection", "close"))
        try:
            reason = http.HTTPStatus(answer.status).phrase.encode()
        except ValueError:
            reason = b""
        try:
            out = self.h11.send(h11.Response(status_code=answer.status, headers=headers, reason=reason))
            if answer.body and not head:
                out += self.h11.send(h11.Data(data=answer.body))
            out += self.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            log.warning("cannot answer HTTP request from %s: %s", self.peer, exc)
            self._close()
            return
        self.transport.write(out)  # type: ignore[union-attr]

    def _reject(self, status: int, why: str) -> None:
        """Answer a request that cannot be served (malformed, too large) and close."""
        log.info("closing HTTP connection from %s: %s", self.peer, why)
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = f"{status} {http.HTTPStatus(status).phrase}\n".encode()
            answer = Answer(status, {"Content-Type": "text/plain; charset=utf-8", "Connection": "close"}, body)
            self._send(answer)
        self._close()


# net/http writes header values with CR and LF replaced by spaces; h11 also refuses the other
# control characters, which an error text may hold: they become spaces too
_CONTROL_BYTES = bytes(list(range(0, 9)) + list(range(10, 32)) + [127])
_CONTROL = bytes.maketrans(_CONTROL_BYTES, b" " * len(_CONTROL_BYTES))


def _field_value(value: str) -> bytes:
    r"""A header value as bytes h11 accepts: UTF-8 (as Go writes a string), control characters as
    spaces, no leading or trailing whitespace (h11 refuses it; Go's clients trim it anyway).

    >>> _field_value("line one\nline two\x00é ")
    b'line one line two \xc3\xa9'
    """
    return value.encode("utf-8", "replace").translate(_CONTROL).strip(b" \t")


def _content_length(req: Any) -> Optional[int]:
    for name, value in req.headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
