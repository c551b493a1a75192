"""The server's fast path: plain request frames in, reply frames out (layer: server).

This is a specialisation of the one dispatch path in :mod:`rpcx.server.dispatch`, taken when nothing
per call has to run around the method (no auth, no per-call plugin hook) and the frame is plain (a
request, not a heartbeat, not oneway, not compressed) to a plain ``def`` method. It serves the
request straight from the raw frame: no :class:`~rpcx.protocol.message.Message`, the reply built
from the request's header, a context built only if the method takes one or asks
:func:`~rpcx.server.context.current_context` for it.

This module is the Python definition; rpcx/_speedups.c has a C twin with the same contract, used
when built (see :mod:`rpcx._accel`). Both touch only what is documented here: the route table and
its :data:`FastEntry` tuples, the :class:`~rpcx.server.context.PyHotCall` slots, the connection's
public ``closing`` attribute and ``write()`` method, and the ``finish`` callback.
"""

from __future__ import annotations

from typing import Any

from .._accel import speedups as _speedups
from ..protocol.decoder import py_split_frames
from ..protocol.message import py_encode_plain_response, py_peek_route

__all__ = ["handle_plain", "py_handle_plain", "serve_read", "py_serve_read", "count_frames", "FastEntry", "MAX_READ_FRAMES"]

#: ``(func, dec, enc, codec, make_ctx)``: the method; a function from payload bytes to its argument
#: (None when it takes none); a function from its reply to payload bytes; the codec whose generic
#: ``encode`` is tried when ``enc`` raises; and ``make_ctx(frame, conn)`` building the context passed
#: as the first argument (None when the method takes none). The server's route table maps a raw
#: route (see :func:`~rpcx.protocol.message.peek_route`) to ``{serialize_byte: FastEntry}``.
FastEntry = tuple[Any, Any, Any, Any, Any]


def _lookup(frame: bytes, routes: dict[bytes, dict[int, FastEntry]]) -> tuple[Any, FastEntry] | None:
    """``(header, entry)`` for a plain request to a route in ``routes``, else None."""
    head = py_peek_route(frame)
    if head is None or head[1] & 0xFC:
        return None
    by_ser = routes.get(head[4])
    entry = by_ser.get(head[2]) if by_ser is not None else None
    if type(entry) is not tuple or len(entry) != 5:
        return None
    return head, entry


def _run_entry(frame: bytes, head: Any, entry: FastEntry, hot: Any, conn: Any) -> Any:
    version, flags, ser, seq, route, _mdl, poff = head
    func, dec, enc, codec, make_ctx = entry
    hot.frame = frame
    hot.connection = conn
    hot.ctx = None
    called = False
    try:
        if make_ctx is not None:
            ctx = hot.ctx = make_ctx(frame, conn)
            arg = dec(frame[poff:]) if dec is not None else None
            called = True
            reply = func(ctx, arg) if dec is not None else func(ctx)
        else:
            arg = dec(frame[poff:]) if dec is not None else None
            called = True
            reply = func(arg) if dec is not None else func()
        try:
            payload = enc(reply)
        except Exception:  # noqa: BLE001 - the specialised encoder did not fit: the codec decides
            payload = codec.encode(reply)
    except Exception as exc:  # noqa: BLE001 - becomes the error reply
        hot.frame = None
        return (exc, called)
    except BaseException:
        hot.frame = None
        raise
    hot.frame = None
    used = hot.ctx
    if used is not None and used.reply_metadata:
        return (used, payload)
    try:
        return py_encode_plain_response(version, flags, ser, seq, route, payload)
    except Exception:  # noqa: BLE001 - not bytes-like, or over 4 GiB: the caller reports it
        return (None, payload)


def py_handle_plain(frame: bytes, routes: dict[bytes, dict[int, FastEntry]], hot: Any, conn: Any) -> Any:
    """Serve ``frame`` if it is a plain request to a route in ``routes``; the result is one of

    - ``None``: not for the fast path (not ``bytes``, a heartbeat, oneway or compressed frame, a
      response, an unknown route, a malformed frame); nothing was run;
    - ``bytes``: the whole reply frame;
    - ``(exc, called)``: an :class:`Exception` ended the call: raised by the argument decoder
      (``called`` False) or by the method or the reply encoder (``called`` True; Go then still sends
      the zero reply beside the error);
    - ``(ctx, payload)``: the reply payload, when the reply frame needs building the long way:
      ``ctx`` is the call's context, whose ``reply_metadata`` is set, or None when the payload is
      not bytes-like or too long for a frame.

    ``hot`` is the thread's :func:`~rpcx.server.context.hot_call` slots. While the method runs,
    ``hot.frame`` and ``hot.connection`` name the call and ``hot.ctx`` is its context, or None until
    :func:`~rpcx.server.context.current_context` builds one. Exceptions that are not an
    :class:`Exception` (``KeyboardInterrupt``) propagate.
    """
    if type(frame) is not bytes or type(routes) is not dict:
        return None
    found = _lookup(frame, routes)
    if found is None:
        return None
    return _run_entry(frame, found[0], found[1], hot, conn)


def count_frames(data: bytes) -> int:
    """How many frames ``data`` holds, for a read :func:`serve_read` accepted (whole frames only):
    each is a 16-byte header whose last 4 bytes are the big-endian length of the rest.

    >>> count_frames(bytes(12) + (3).to_bytes(4, "big") + b"abc" + bytes(12) + bytes(4))
    2
    """
    n = i = 0
    end = len(data)
    while i < end:
        i += 16 + int.from_bytes(data[i + 12 : i + 16], "big")
        n += 1
    return n


#: frames one read may hold and still be served by :func:`serve_read` (more take the general path)
MAX_READ_FRAMES = 256


def py_serve_read(
    data: bytes, routes: dict[bytes, dict[int, FastEntry]], hot: Any, conn: Any, finish: Any, max_len: int
) -> bytes | None:
    """Serve one socket read if it is made only of whole plain requests (see :func:`handle_plain`)
    whose announced lengths are within ``max_len`` (0: no limit); return None, having run nothing,
    for any other read (a partial frame, a heartbeat, an unknown route, bad bytes), which then
    takes the general path. The caller makes sure no earlier read left a partial frame behind.

    Served requests run in order, each as :func:`handle_plain` runs it. The reply frames it built
    are returned joined, for one write; the other results go to ``finish(conn, frame, result)``.
    The loop stops early once ``conn.closing`` is true (a method closed the connection). If a
    :class:`BaseException` escapes a method, the replies built before it are handed to
    ``conn.write()`` first.
    """
    if type(data) is not bytes or type(routes) is not dict:
        return None
    frames, used, kind, _ = py_split_frames(data, max_len)
    if kind or used != len(data) or not frames or len(frames) > MAX_READ_FRAMES:
        return None
    plan = []
    for frame in frames:
        found = _lookup(frame, routes)
        if found is None:
            return None
        plan.append((frame, found))
    out: list[bytes] = []
    try:
        for i, (frame, (head, entry)) in enumerate(plan):
            if i and conn.closing:
                break
            r = _run_entry(frame, head, entry, hot, conn)
            if type(r) is bytes:
                out.append(r)
            else:
                finish(conn, frame, r)
    except BaseException:
        if out:
            conn.write(b"".join(out))
        raise
    return b"".join(out)


handle_plain = _speedups.handle_plain if _speedups is not None else py_handle_plain
serve_read = _speedups.serve_read if _speedups is not None else py_serve_read
