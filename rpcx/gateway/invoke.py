"""HTTP invoke: one HTTP request in, the rpcx call it names, its answer out, as Go's gateway does it
(layer: gateway; smallnest/rpcx v1.9.4 server/gateway.go ``handleGatewayRequest`` and
server/converter.go ``HTTPRequest2RpcxRequest``).

The request names the call in ``X-RPCX-*`` headers (the service path may come from the URL path
instead); :func:`to_message` builds the rpcx request :class:`~rpcx.protocol.message.Message` from
them; :func:`invoke` serves it on the server's one dispatch path
(:meth:`~rpcx.server.dispatch.Dispatcher.handle_message`) and turns the reply into Go's status,
headers and body. Go's quirks are kept where a client could see them: a request missing a header
is answered ``200`` with ``X-RPCX-MessageStatusType: Error``; only ``GET``, ``POST`` and ``PUT``
route (``405`` otherwise, ``OPTIONS`` answers ``Allow``).

>>> msg, err = to_message({"X-Rpcx-Servicepath": "Arith", "X-Rpcx-Servicemethod": "Mul",
...                        "X-Rpcx-Serializetype": "1", "X-Rpcx-Meta": "k=v", "Authorization": "t"}, b"{}")
>>> msg.service_path, msg.service_method, msg.serialize_type, msg.metadata, err
('Arith', 'Mul', 1, {'k': 'v', '__AUTH': 't'}, None)
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

from ..protocol.constants import AUTH_KEY, SERVICE_ERROR, MessageStatusType, MessageType
from ..protocol.message import Message
from .gohttp import atoi, encode_query, parse_query, parse_uint

from ..server.dispatch import Handled

__all__ = ["Answer", "Handle", "HandleNow", "Pending", "invoke", "invoke_now", "prepare", "answer", "to_message",
           "ROUTED_METHODS"]

#: ``handle(request, peer) -> Handled``: serves one rpcx request built from HTTP. On the rpcx port
#: it is the server's :meth:`~rpcx.server.dispatch.Dispatcher.handle_message`; the standalone
#: gateway forwards the request with an XClient.
Handle = Callable[[Message, Any], Awaitable[Handled]]
#: ``handle_now(request, peer) -> Handled | None``: serves the request at once when it can, else
#: returns None having run nothing (:meth:`~rpcx.server.dispatch.Dispatcher.serve_now`)
HandleNow = Callable[[Message, Any], Optional[Handled]]

# the X-RPCX-* headers, in Go's canonical spelling (what http.Header keys are)
VERSION = "X-Rpcx-Version"
MESSAGE_TYPE = "X-Rpcx-Messagetype"
HEARTBEAT = "X-Rpcx-Heartbeat"
ONEWAY = "X-Rpcx-Oneway"
STATUS_TYPE = "X-Rpcx-Messagestatustype"
SERIALIZE_TYPE = "X-Rpcx-Serializetype"
COMPRESS_TYPE = "X-Rpcx-Compresstype"
MESSAGE_ID = "X-Rpcx-Messageid"
SERVICE_PATH = "X-Rpcx-Servicepath"
SERVICE_METHOD = "X-Rpcx-Servicemethod"
META = "X-Rpcx-Meta"
ERROR_MESSAGE = "X-Rpcx-Errormessage"

#: the methods Go's gateway routes (httprouter: POST, GET, PUT on ``/*servicePath``)
ROUTED_METHODS = ("GET", "POST", "PUT")
_ALLOW = "GET, OPTIONS, POST, PUT"


@dataclass
class Answer:
    """An HTTP answer: status, the handler's headers (Go's canonical names) and the body.
    ``Date``, ``Content-Length`` and a sniffed ``Content-Type`` are added when it is sent."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def to_message(h: dict[str, str], body: bytes) -> tuple[Optional[Message], Optional[str]]:
    """The rpcx request the headers ``h`` (canonical name -> first value) and ``body`` describe, or
    Go's error text for a header it cannot parse. The compress type is checked but not applied: Go
    hands the body to the codec as it came, so the Python request is not marked compressed either."""
    seq = 0
    if h.get(MESSAGE_ID):
        n, err = parse_uint(h[MESSAGE_ID])
        if err:
            return None, err
        seq = n or 0
    serialize = 0
    if h.get(SERIALIZE_TYPE):
        n, err = atoi(h[SERIALIZE_TYPE])
        if err:
            return None, err
        serialize = (n or 0) & 0x0F  # Go: byte(st) << 4 in the header's high nibble
    if h.get(COMPRESS_TYPE):
        _, err = atoi(h[COMPRESS_TYPE])
        if err:
            return None, err
    metadata: dict[str, str] = {}
    if h.get(META):
        values, err = parse_query(h[META])
        if err:
            return None, err
        metadata = {k: v[0] for k, v in values.items() if v}
    if h.get("Authorization"):
        metadata[AUTH_KEY] = h["Authorization"]
    msg = Message(
        message_type=MessageType.REQUEST,
        oneway=bool(h.get(ONEWAY)),  # any value, as Go's h.Get(XOneway) != ""
        serialize_type=serialize,
        seq=seq,
        service_path=h.get(SERVICE_PATH, ""),
        service_method=h.get(SERVICE_METHOD, ""),
        metadata=metadata,
        payload=body,
    )
    return msg, None


def _error_of(reply: Optional[Message]) -> str:
    if reply is None:
        return ""
    return reply.metadata.get(SERVICE_ERROR, "")


@dataclass
class Pending:
    """An HTTP invoke request that names a call: the rpcx request, and what the answer echoes."""

    req: Message
    wh: dict[str, str]
    compress: str


def prepare(method: str, target: str, h: dict[str, str], body: bytes) -> Answer | Pending:
    """The answer to a request that names no call (a method httprouter does not route, a missing
    or bad header), or the call it names; ``h`` maps canonical header names to their first value."""
    if method not in ROUTED_METHODS:
        if method == "OPTIONS":  # httprouter answers OPTIONS itself
            return Answer(200, {"Allow": _ALLOW})
        return Answer(
            405,
            {"Allow": _ALLOW, "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
            b"Method Not Allowed\n",
        )
    service_path = h.get(SERVICE_PATH)
    if not service_path:
        path = urllib.parse.urlsplit(target).path or "/"
        service_path = urllib.parse.unquote(path)[1:] if path.startswith("/") else urllib.parse.unquote(path)
        h = {**h, SERVICE_PATH: service_path}
    req, err = to_message(h, body)

    # the order and the else branches are Go's: a header is echoed unless an earlier check failed
    wh: dict[str, str] = {VERSION: h.get(VERSION, ""), MESSAGE_ID: h.get(MESSAGE_ID, "")}
    if err is None and service_path == "":
        err = "empty servicepath"
    else:
        wh[SERVICE_PATH] = service_path
    if err is None and not h.get(SERVICE_METHOD):
        err = "empty servicemethod"
    else:
        wh[SERVICE_METHOD] = h.get(SERVICE_METHOD, "")
    if err is None and not h.get(SERIALIZE_TYPE):
        err = "empty serialized type"
    else:
        wh[SERIALIZE_TYPE] = h.get(SERIALIZE_TYPE, "")
    if err is not None or req is None:
        wh[STATUS_TYPE] = "Error"
        wh[ERROR_MESSAGE] = err or ""
        return Answer(200, wh)  # Go writes no status here: net/http's default 200
    return Pending(req, wh, h.get(COMPRESS_TYPE, ""))


def answer(pending: Pending, handled: Handled) -> Answer:
    """Go's answer to the call ``pending`` named, from what serving it came to."""
    req, wh = pending.req, pending.wh
    reply = handled.reply
    if handled.refused == "plugin":  # Go: http.Error(w, err.Error(), 500)
        wh["Content-Type"] = "text/plain; charset=utf-8"
        wh["X-Content-Type-Options"] = "nosniff"
        return Answer(500, wh, (_error_of(reply) + "\n").encode())
    if handled.refused == "auth" or reply is None or reply.status == MessageStatusType.ERROR:
        wh[STATUS_TYPE] = "Error"
        wh[ERROR_MESSAGE] = _error_of(reply) if reply is not None else "rpcx: no reply"
        return Answer(401 if handled.refused == "auth" else 500, wh)
    wh[META] = encode_query(reply.metadata) if reply.metadata else ""
    if pending.compress:
        n, _ = atoi(pending.compress)
        if (n or 0) & 0x07:  # Go echoes the request's compress type (the reply is a clone of it)
            wh[COMPRESS_TYPE] = str((n or 0) & 0x07)
    payload = b"" if req.oneway else bytes(reply.payload)  # Go encodes no reply for oneway
    return Answer(200, wh, payload)


async def invoke(handle: Handle, method: str, target: str, h: dict[str, str], body: bytes, peer: Any) -> Answer:
    """Serve one HTTP invoke request; ``h`` maps canonical header names to their first value."""
    p = prepare(method, target, h, body)
    if isinstance(p, Answer):
        return p
    return answer(p, await handle(p.req, peer))


def invoke_now(handle_now: Optional[HandleNow], method: str, target: str, h: dict[str, str], body: bytes,
               peer: Any) -> Answer | Pending:
    """:func:`invoke` without waiting: the answer, or the :class:`Pending` call when ``handle_now``
    (None: there is none) cannot serve it at once (then ``answer(p, await handle(p.req, peer))``)."""
    p = prepare(method, target, h, body)
    if isinstance(p, Answer) or handle_now is None:
        return p
    handled = handle_now(p.req, peer)
    return p if handled is None else answer(p, handled)
