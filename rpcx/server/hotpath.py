"""The server's hot path: one plain request frame in, one reply frame out (layer: server).

:func:`handle_plain` serves a request to a plain ``def`` method straight from the raw frame: no
:class:`~rpcx.protocol.message.Message`, no context object (one is built only if the handler asks
:func:`~rpcx.server.context.current_context` for it), the reply built from the request's header.
The server tries it first for every frame and takes the full path when it returns None.

This module is the Python definition; rpcx/_speedups.c has a C twin with the same contract, used
when built (see :mod:`rpcx._accel`).
"""

from __future__ import annotations

from typing import Any

from .._accel import speedups as _speedups
from ..protocol.decoder import py_split_frames
from ..protocol.message import py_encode_plain_response, py_peek_route

__all__ = ["handle_plain", "py_handle_plain", "serve_read", "py_serve_read", "FastEntry", "MAX_READ_FRAMES"]

#: ``(func, dec, enc, codec)``: the method, a function from payload bytes to its argument (None
#: when it takes none), a function from its reply to payload bytes, and the codec whose generic
#: ``encode`` is tried when ``enc`` raises. The server's route table maps a raw route (see
#: :func:`~rpcx.protocol.message.peek_route`) to ``{serialize_byte: FastEntry}``.
FastEntry = tuple[Any, Any, Any, Any]


def _lookup(frame: bytes, fast: dict[bytes, dict[int, FastEntry]]) -> tuple[Any, FastEntry] | None:
    """``(header, entry)`` for a plain request to a route in ``fast``, else None."""
    head = py_peek_route(frame)
    if head is None or head[1] & 0xFC:
        return None
    by_ser = fast.get(head[4])
    entry = by_ser.get(head[2]) if by_ser is not None else None
    return None if entry is None else (head, entry)


def _run_entry(frame: bytes, head: Any, entry: FastEntry, hot: Any, conn: Any) -> Any:
    version, flags, ser, seq, route, _mdl, poff = head
    func, dec, enc, codec = entry
    hot.frame = frame
    hot.connection = conn
    hot.ctx = None
    try:
        reply = func(dec(frame[poff:])) if dec is not None else func()
        try:
            payload = enc(reply)
        except Exception:  # noqa: BLE001 - the specialised encoder did not fit: the codec decides
            payload = codec.encode(reply)
    except Exception as exc:  # noqa: BLE001 - becomes the error reply
        hot.frame = None
        return (exc,)
    except BaseException:
        hot.frame = None
        raise
    hot.frame = None
    used = hot.ctx
    if used is not None and used._res_md:
        return (used, payload)
    try:
        return py_encode_plain_response(version, flags, ser, seq, route, payload)
    except Exception:  # noqa: BLE001 - not bytes-like, or over 4 GiB: the caller reports it
        return (None, payload)


def py_handle_plain(frame: bytes, fast: dict[bytes, dict[int, FastEntry]], hot: Any, conn: Any) -> Any:
    """Serve ``frame`` if it is a plain request to a route in ``fast``; the result is one of

    - ``None``: not for the hot path (not ``bytes``, a heartbeat, oneway or compressed frame, a
      response, an unknown route, a malformed frame); nothing was run;
    - ``bytes``: the whole reply frame;
    - ``(exc,)``: the method or a codec raised ``exc`` (an :class:`Exception`): reply with an error;
    - ``(ctx, payload)``: the reply payload, when the reply frame needs building the long way:
      ``ctx`` is the context the handler asked for, whose reply metadata is set, or None when the
      payload is not bytes-like or too long for a frame.

    ``hot`` is the thread's :func:`~rpcx.server.context.hot_call` slots. While the method runs,
    ``hot.frame`` and ``hot.connection`` name the call and ``hot.ctx`` is
    None until :func:`~rpcx.server.context.current_context` builds it. Exceptions that are not an
    :class:`Exception` (``KeyboardInterrupt``) propagate.
    """
    if type(frame) is not bytes:
        return None
    found = _lookup(frame, fast)
    if found is None:
        return None
    return _run_entry(frame, found[0], found[1], hot, conn)


#: frames one read may hold and still be served by :func:`serve_read` (more take the general path)
MAX_READ_FRAMES = 256


def py_serve_read(data: bytes, fast: dict[bytes, dict[int, FastEntry]], hot: Any, conn: Any, finish: Any) -> bool:
    """Serve one socket read of a :class:`~rpcx.server.connection.ServerConnection` if it is made
    only of whole plain requests (see :func:`handle_plain`) and the connection's decoder holds
    nothing; return False, having run nothing, for any other read (a partial frame, a heartbeat,
    an unknown route, bad bytes), which then takes the general path.

    Served requests run in order, each as :func:`handle_plain` runs it; reply frames are batched in
    ``conn._batch`` and written with one ``conn.transport.write``; the other results go to
    ``finish(conn, frame, result)``. The loop stops early if a method closes the connection.
    """
    if type(data) is not bytes:
        return False
    decoder = conn.decoder
    if decoder._buf or decoder._failed is not None:
        return False
    frames, used, kind, _ = py_split_frames(data, decoder._max_len)
    if kind or used != len(data) or not frames or len(frames) > MAX_READ_FRAMES:
        return False
    plan = []
    for frame in frames:
        found = _lookup(frame, fast)
        if found is None:
            return False
        plan.append((frame, found))
    batch: list[bytes] = []
    conn._batch = batch
    try:
        for i, (frame, (head, entry)) in enumerate(plan):
            if i and conn.closing:
                break  # a method closed the connection: read nothing more
            r = _run_entry(frame, head, entry, hot, conn)
            if type(r) is bytes:
                batch.append(r)
            else:
                finish(conn, frame, r)
    finally:
        conn._batch = None
        conn._flush(batch)
    return True


handle_plain = _speedups.handle_plain if _speedups is not None else py_handle_plain
serve_read = _speedups.serve_read if _speedups is not None else py_serve_read
