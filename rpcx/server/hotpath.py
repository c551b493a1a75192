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
from ..protocol.message import py_encode_plain_response, py_peek_route
from .context import _get_ident

__all__ = ["handle_plain", "py_handle_plain", "FastEntry"]

#: ``(func, dec, enc, codec)``: the method, a function from payload bytes to its argument (None
#: when it takes none), a function from its reply to payload bytes, and the codec whose generic
#: ``encode`` is tried when ``enc`` raises. The server's route table maps a raw route (see
#: :func:`~rpcx.protocol.message.peek_route`) to ``{serialize_byte: FastEntry}``.
FastEntry = tuple[Any, Any, Any, Any]


def py_handle_plain(frame: bytes, fast: dict[bytes, dict[int, FastEntry]], hot: Any, conn: Any) -> Any:
    """Serve ``frame`` if it is a plain request to a route in ``fast``; the result is one of

    - ``None``: not for the hot path (not ``bytes``, a heartbeat, oneway or compressed frame, a response, an
      unknown route, a malformed frame); nothing was run;
    - ``bytes``: the whole reply frame;
    - ``(exc,)``: the method or a codec raised ``exc`` (an :class:`Exception`): reply with an error;
    - ``(ctx, payload)``: the reply payload, when the reply frame needs building the long way:
      ``ctx`` is the context the handler asked for, whose reply metadata is set, or None when the
      payload is not bytes-like or too long for a frame.

    While the method runs, ``hot.frame``/``connection``/``thread`` name the call and ``hot.ctx`` is
    None until :func:`~rpcx.server.context.current_context` builds it.
    """
    if type(frame) is not bytes:
        return None
    head = py_peek_route(frame)
    if head is None or head[1] & 0xFC:
        return None
    version, flags, ser, seq, route, _mdl, poff = head
    by_ser = fast.get(route)
    entry = by_ser.get(ser) if by_ser is not None else None
    if entry is None:
        return None
    func, dec, enc, codec = entry
    hot.frame = frame
    hot.connection = conn
    hot.thread = _get_ident()
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


handle_plain = _speedups.handle_plain if _speedups is not None else py_handle_plain
