"""The gateway's HTTP/1.1 connections read with httptools (llhttp) and answered with heads written
directly (layer: gateway; the asyncio adapter of a C parser). Same answers as the h11
:class:`~rpcx.gateway.http.HttpConnection`, which stays the definition: the gateway tests run on
both parsers and compare their bytes.

Why: with h11 about 60% of a gateway call's CPU was HTTP parsing and serializing (h11 validates
every header in Python on both sides); llhttp parses in C and the answer's head is a fixed shape
(see docs/performance.md); the status line and the handler's header block are cached per
distinct set, since HTTP invoke answers a method's calls with the same headers.

httptools parses every request in a read at once; whole requests wait in a queue and are answered
one at a time, in order: at once when the server can serve the call without waiting
(:meth:`~rpcx.server.dispatch.Dispatcher.serve_now`), the answers of one pass over the queue
written together, else in a task. Reading pauses while more than
:data:`~rpcx.gateway.http.MAX_PIPELINED_BYTES` wait. The bounds of the h11 connection apply: the
head at most :data:`~rpcx.gateway.http.MAX_HEADER_BYTES` (431), the body the gateway's
``max_body`` (413), a started request must finish within ``frame_timeout``, malformed HTTP is 400
(a version other than 1.0/1.1: 505), each then closed.
"""

from __future__ import annotations

import asyncio
import collections
import http
import logging
from typing import TYPE_CHECKING, Any, Optional

import httptools

from .gohttp import detect_content_type
from .http import MAX_HEADER_BYTES, MAX_PIPELINED_BYTES, GatewayHttp, _field_value, _http_date
from .invoke import Answer

if TYPE_CHECKING:
    from . import Gateway

__all__ = ["FastHttpConnection"]

log = logging.getLogger("rpcx.gateway")

_REASONS = {s.value: s.phrase.encode() for s in http.HTTPStatus}


#: answers of one pass are written once they pass this many bytes (or at the pass's end)
_FLUSH_BYTES = 64 * 1024

#: (status, handler headers) -> the status line and the handler's fields, as written;
#: bounded (echoed header values come from peers): cleared when full
_HEADS: dict[tuple[int, tuple[tuple[str, str], ...]], bytes] = {}
_MAX_HEADS = 512


def _head_block(answer: Answer) -> bytes:
    """The status line and the handler's header fields (sorted, values cleaned), made once per
    distinct set: HTTP invoke answers a method's calls with the same headers every time."""
    key = (answer.status, tuple(answer.headers.items()))
    block = _HEADS.get(key)
    if block is None:
        parts = [b"HTTP/1.1 %d %s\r\n" % (answer.status, _REASONS.get(answer.status, b""))]
        for name, value in sorted(answer.headers.items()):
            parts.append(name.encode("latin-1") + b": " + _field_value(value) + b"\r\n")
        block = b"".join(parts)
        if len(_HEADS) >= _MAX_HEADS:
            _HEADS.clear()
        _HEADS[key] = block
    return block


def _tail_fields(answer: Answer, close: bool) -> bytes:
    """The fields net/http adds after the handler's: ``Date``, ``Content-Length``, a sniffed
    ``Content-Type`` when the handler set none; then ``Connection: close`` when closing (as h11
    writes it), and the blank line."""
    body = answer.body
    tail = b"Date: " + _http_date()
    if answer.status not in (204, 304):  # net/http sends no length where no body may be
        tail += b"\r\nContent-Length: %d" % len(body)
    if body and "Content-Type" not in answer.headers:
        tail += b"\r\nContent-Type: " + detect_content_type(body).encode()
    if close:
        tail += b"\r\nConnection: close"
    return tail + b"\r\n\r\n"


class _Reject(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


class FastHttpConnection(GatewayHttp):
    """One gateway HTTP connection parsed by httptools (made by :class:`~rpcx.gateway.Gateway`
    with ``parser="httptools"``)."""

    def __init__(self, peer: Any, gateway: "Gateway") -> None:
        super().__init__(peer, gateway)
        self._parser = httptools.HttpRequestParser(self)
        #: whole requests waiting their turn: (method, target, headers, body, keep-alive, size)
        self._queue: collections.deque[tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes, bool, int]] = (
            collections.deque())
        self._queued_bytes = 0
        self._keep_alive = True
        self._eof = False
        #: the request being read: its target, headers, body and head size
        self._in_message = False
        self._in_head = False
        self._head_bytes = 0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body = bytearray()
        #: the request's HTTP version, and the first Content-Length over ``max_body`` (0: none)
        self._version = "1.1"
        self._too_long = 0
        self._failed = False
        self._rejection = (400, "")
        self._begins = 0
        #: answers made in the current pass of _next, written together at its end
        self._out: Optional[list[bytes]] = None
        self._out_bytes = 0

    # -- httptools callbacks (called inside feed_data) ----------------------------------------
    def on_message_begin(self) -> None:
        """A request starts: its timer runs until it is whole."""
        self._begins += 1
        self._in_message = self._in_head = True
        self._head_bytes = 0
        self._url = b""
        self._headers = []
        self._body = bytearray()
        self._too_long = 0
        # the timer is armed only if the request is still incomplete when the read is parsed
        # (data_received): most requests arrive whole in one read and never need one

    def on_url(self, url: bytes) -> None:
        """(Part of) the request target."""
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > MAX_HEADER_BYTES:
            raise _Reject(431, "request headers too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header field, counted against the head's bound."""
        name = name.lower()
        value = value.strip(b" \t")
        self._headers.append((name, value))
        size = self._head_bytes = self._head_bytes + len(name) + len(value) + 4
        if size > MAX_HEADER_BYTES:
            raise _Reject(431, "request headers too large")
        if name == b"content-length" and self.max_body and value.isdigit() and int(value) > self.max_body:
            self._too_long = self._too_long or int(value)  # refused once the version is checked

    def on_headers_complete(self) -> None:
        """The head is in: check the version and the announced body length."""
        self._in_head = False
        version = self._version = self._parser.get_http_version()
        if version == "0.9":  # a request line without a version: malformed, as h11 says
            raise _Reject(400, "no HTTP version in the request line")
        if version not in ("1.0", "1.1"):
            raise _Reject(505, f"HTTP/{version} is not supported")
        if self._too_long:
            raise _Reject(413, f"body of {self._too_long} bytes over the limit of {self.max_body}")

    def on_body(self, body: bytes) -> None:
        """Body bytes (de-chunked), counted against ``max_body``."""
        self._body += body
        if self.max_body and len(self._body) > self.max_body:
            raise _Reject(413, f"body over the limit of {self.max_body} bytes")

    def on_message_complete(self) -> None:
        """The request is whole: it waits its turn in the queue."""
        self._in_message = False
        size = self._head_bytes + len(self._body)
        self._cancel_timer()
        # h11 (the definition) keeps no HTTP/1.0 connection alive, whatever its headers say
        keep_alive = self._version == "1.1" and self._parser.should_keep_alive()
        self._queue.append((self._parser.get_method(), self._url, self._headers, bytes(self._body), keep_alive, size))
        self._queued_bytes += size

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        """Parse what arrived; answer the first whole request if none is being answered."""
        if self._failed or self._eof:
            return
        was_in_head, begins = self._in_head, self._begins
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Reject):
                self._fail(cause.status, str(cause))
            else:
                self._fail(400, str(exc))
            return
        except httptools.HttpParserUpgrade:
            # an Upgrade or CONNECT: answered as a request (Go's gateway does not upgrade), then closed
            self._keep_alive = False
        except httptools.HttpParserError as exc:
            text = str(exc)
            self._fail(505 if "version" in text.lower() else 400, text)
            return
        if self._in_head and was_in_head and begins == self._begins:
            # the whole read was more of a head that has not ended (llhttp keeps its pieces, and
            # calls back only per whole header): bound it here too
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEADER_BYTES:
                self._fail(431, "request headers too large")
                return
        if self._in_message:
            self._arm_timer()
        if self._queued_bytes > MAX_PIPELINED_BYTES and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        if not self._busy:
            self._next()

    def eof_received(self) -> bool:
        """The client sent all it will: answer what is queued, then close."""
        self._eof = True
        if not self._busy and not self._queue:
            self._close()
        return True  # we close once the answers owed are written

    # -- requests, one at a time --------------------------------------------------------------
    def _next(self) -> None:
        """Answer the queued requests in order, as long as each is answered at once; the answers
        of one pass go out in one write (pipelined requests in one read get one write back)."""
        if self._closed or self._busy:
            return
        own = self._out is None  # not already inside a pass (whose answers are still unwritten)
        if own:
            self._out = []
        try:
            while not self._closed and not self._busy:
                if not self._queue:
                    if self._failed:
                        self._reject_now()
                    elif self._eof:
                        self._close()
                    # else idle between requests (no timer: Go's http.Server keeps the connection)
                    return
                method, target, headers, body, keep_alive, size = self._queue.popleft()
                self._queued_bytes -= size
                if not keep_alive:
                    self._keep_alive = False
                answer = self._start(method, target, headers, body)
                if answer is None:
                    return  # a task answers it (then _finish), or the connection was closed
                self._send(answer, head=method == b"HEAD")
                if self._out_bytes > _FLUSH_BYTES:
                    self._flush()  # asyncio's flow control sees the answers (pause_writing)
                if not self._after_answer():
                    return
        finally:
            if own:
                self._flush()
                self._out = None

    def _ready_for_next(self) -> bool:
        """The answer is written: ready for the next request, or close."""
        self._busy = False
        if not self._keep_alive:
            self._close()
            return False
        if self._reading_paused and self._queued_bytes <= MAX_PIPELINED_BYTES and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return True

    def _flush(self) -> None:
        out = self._out
        if out:
            data = b"".join(out) if len(out) > 1 else out[0]
            out.clear()
            self._out_bytes = 0
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(data)

    def _close(self) -> None:
        self._flush()  # answers made in this pass go out before the close
        super()._close()

    # -- writing answers ----------------------------------------------------------------------
    def _send(self, answer: Answer, head: bool = False) -> None:
        """Write ``answer``'s status line, fields and body as h11 would have (inside :meth:`_next`
        it joins the pass's other answers, written once at its end)."""
        if self._closed:
            return
        close = "Connection" not in answer.headers and not self._keep_alive_now()
        data = _head_block(answer) + _tail_fields(answer, close)
        if answer.body and not head:
            data += answer.body
        if self._out is not None:
            self._out.append(data)
            self._out_bytes += len(data)
        else:
            self.transport.write(data)  # type: ignore[union-attr]
        if answer.headers.get("Connection") == "close":
            self._keep_alive = False

    def _keep_alive_now(self) -> bool:
        return self._keep_alive

    def _fail(self, status: int, why: str) -> None:
        """A request that cannot be served: answered (after those before it) and closed."""
        log.info("closing HTTP connection from %s: %s", self.peer, why)
        self._failed = True
        self._in_message = False
        self._rejection = (status, why)
        if not self._busy:
            self._reject_now()

    def _reject_now(self) -> None:
        status, _ = self._rejection
        if self._queue:  # whole requests before the bad one are answered first
            self._next()
            return
        body = f"{status} {http.HTTPStatus(status).phrase}\n".encode()
        self._send(Answer(status, {"Content-Type": "text/plain; charset=utf-8", "Connection": "close"}, body))
        self._close()

    def _done_with_request(self) -> None:
        if self._failed and not self._queue and not self._closed:
            # the answer owed before the rejection is written: now the rejection
            self._busy = False
            self._reject_now()
