"""Byte-level frame edits a proxy needs, the payload never touched (layer: proxy, sans-IO).

Everything here works on a whole frame and its :class:`~rpcx.protocol.header.FrameHeader`; nothing
decodes or decompresses a payload. Forwarding a call as it came changes only its seq
(:func:`~rpcx.protocol.header.rewrite_seq`, done by the upstream connection). A route that rewrites
the service or method, or edits metadata, re-encodes the header, route and metadata sections only
(:func:`rebuild_request`); the payload section (its length prefix and bytes, compressed or not) is
copied over byte for byte.

>>> from rpcx.protocol.message import Message, encode, parse_frame
>>> f = encode(Message(service_path="Arith", service_method="Mul", seq=3, metadata={"a": "1"}, payload=b"xyz"))
>>> h = FrameHeader.parse(f)
>>> g = rebuild_request(f, h, service_method="Add", metadata={"b": "2"})
>>> m = parse_frame(g); (m.service_method, m.metadata, m.payload, m.seq)
('Add', {'b': '2'}, b'xyz', 3)
>>> parse_frame(heartbeat_echo_frame(encode(Message(heartbeat=True, seq=9)))).is_response
True
>>> read_header(f).service_method, bytes(with_seq(f, 5)[4:12]).hex()
('Mul', '0000000000000005')
"""

from __future__ import annotations

import struct

from ..protocol.constants import MAGIC, SERVICE_ERROR
from ..protocol.header import FrameHeader
from ..protocol.message import Message, encode, encode_metadata, encode_route, peek_route

__all__ = ["FrameHeader", "read_header", "with_seq", "rebuild_request", "heartbeat_echo_frame", "error_reply",
           "PROXY_ERROR_PREFIX"]

_HEAD = struct.Struct(">BBBBQI")
_U32 = struct.Struct(">I")
_SEQ = struct.Struct(">Q")

#: every error the proxy itself answers with starts so, to tell it from an upstream's error
PROXY_ERROR_PREFIX = "rpcx proxy: "


def read_header(frame: bytes) -> FrameHeader:
    """:meth:`FrameHeader.parse` of a whole frame, the sections located by the C ``peek_route``
    (one call instead of a dozen in Python: this runs for every call). A frame it cannot locate
    goes to ``FrameHeader.parse``, which raises the precise error (or agrees, where they differ)."""
    head = peek_route(frame)
    n = len(frame)
    if head is None or frame[0] != MAGIC or _U32.unpack_from(frame, 12)[0] + 16 != n:
        return FrameHeader.parse(frame)
    version, flags, ser, seq, route, mdl, poff = head
    return FrameHeader(version, flags, ser, seq, route, poff - 4 - mdl, poff - 4, poff, n, frame)


def with_seq(frame: bytes | bytearray, seq: int) -> bytearray:
    """A copy of the whole frame ``frame`` with its seq set to ``seq`` (one copy; the frame is the
    proxy's own, checked when it was cut from the stream)."""
    out = bytearray(frame)
    _SEQ.pack_into(out, 4, seq)
    return out


def rebuild_request(
    frame: bytes,
    h: FrameHeader,
    *,
    service_path: str | None = None,
    service_method: str | None = None,
    metadata: dict[str, str] | None = None,
) -> bytes:
    """``frame`` with its route and/or metadata replaced; flags, serialize type, seq and the
    payload section stay exactly as they were. ``None`` keeps a part as it is."""
    if service_path is None and service_method is None:
        route = h.route
    else:
        route = encode_route(
            h.service_path if service_path is None else service_path,
            h.service_method if service_method is None else service_method,
        )
    if metadata is None:
        meta_section = bytes(frame[h.metadata_start - 4 : h.metadata_end])
    else:
        meta = encode_metadata(metadata)
        meta_section = _U32.pack(len(meta)) + meta
    payload_section = frame[h.metadata_end :]  # the payload's length prefix and bytes, untouched
    total = len(route) + len(meta_section) + len(payload_section)
    head = _HEAD.pack(MAGIC, h.version, h.flags, h.serialize_byte, h.seq, total)
    return b"".join((head, route, meta_section, payload_section))


def heartbeat_echo_frame(frame: bytes) -> bytes:
    """Go's answer to a heartbeat: the same frame with only the Response bit set (oneway or not)."""
    return b"".join((frame[:2], bytes((frame[2] | 0x80,)), frame[3:]))


def error_reply(h: FrameHeader, text: str) -> bytes:
    """An rpcx error reply to the request ``h`` as Go's server builds one: Response, status
    error, the request's seq, route and serialize type, the text in ``__rpcx_error__``, no payload."""
    return encode(
        Message(
            message_type=1,
            status=1,
            serialize_type=h.serialize_type,
            seq=h.seq,
            version=h.version,
            service_path=h.service_path,
            service_method=h.service_method,
            metadata={SERVICE_ERROR: text},
        )
    )
