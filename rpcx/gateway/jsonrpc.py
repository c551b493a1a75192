"""JSON-RPC 2.0 on the rpcx port, as Go serves it, plus batches (layer: gateway; smallnest/rpcx
v1.9.4 server/jsonrpc2.go and jsonrpc2_wire.go).

``{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":3,"B":4},"id":1}`` calls ``Arith.Mul`` with
the params as a JSON payload (serialize type JSON); the reply payload is the ``result``. Go's rules
and texts: a method without ``Service.`` is ``-32601``; a call that fails (unknown service,
refused auth, the method's error) is ``-32603`` with rpcx's error text; unparsable JSON, a wrong
``jsonrpc`` version or an ``id`` that is neither a number nor a string is ``-32700`` without an
``id``; a request without ``id`` (or with ``"id": null``) is a notification, answered with an empty
``200``. Go writes its header ``Context-Type: application/json`` (sic) and lets net/http sniff
``Content-Type``; so do we.

What Go lacks, done as the JSON-RPC 2.0 specification says: a batch (a JSON array) is answered
with an array of the responses to its calls (notifications get none; a batch of only
notifications gets an empty ``200``; an empty batch or an element that is not an object is
``-32600`` with ``"id": null``). Omitted or null ``params`` are sent as ``{}`` (Go crashes the
connection on them).

>>> error_body(-32601, "must contains servicepath and method", 2)
b'{"jsonrpc":"2.0","error":{"code":-32601,"message":"must contains servicepath and method","data":null},"id":2}'
>>> result_body(b'{"C":12}', "x")
b'{"jsonrpc":"2.0","result":{"C":12},"id":"x"}'
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional, Union

from ..protocol.constants import AUTH_KEY, SERVICE_ERROR, MessageStatusType, MessageType, SerializeType
from ..protocol.message import Message
from .gohttp import parse_query
from ..server.dispatch import Handled
from .invoke import META, Answer, Handle, HandleNow

__all__ = ["serve_jsonrpc", "jsonrpc_now", "error_body", "result_body", "PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND",
           "INTERNAL_ERROR"]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603

#: the params as the method's JSON payload (one encoder: json.dumps with options builds one per call)
_encode_params = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_NO_ID = object()  # Go omits "id" (omitempty) when it has none; the spec's batch errors use null
Id = Union[int, str, None, object]


def _go_string(s: str) -> str:
    """A JSON string as Go's encoding/json writes it: UTF-8 kept, HTML characters escaped."""
    out = json.dumps(s, ensure_ascii=False)
    return (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _id_json(id_: Id) -> str:
    if id_ is _NO_ID:
        return ""
    if id_ is None:
        return ',"id":null'
    return ',"id":' + (_go_string(id_) if isinstance(id_, str) else str(id_))


def error_body(code: int, message: str, id_: Id = _NO_ID) -> bytes:
    """A response carrying an error, as Go marshals it (``data`` is always null)."""
    return (f'{{"jsonrpc":"2.0","error":{{"code":{code},"message":{_go_string(message)},"data":null}}'
            f"{_id_json(id_)}}}").encode()


def result_body(result: bytes, id_: Id) -> bytes:
    """A response carrying the reply payload (already JSON) as ``result``."""
    return b'{"jsonrpc":"2.0","result":' + result + _id_json(id_).encode() + b"}"


def _go_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


class _Call:
    """A request object that names a call: the rpcx request and the id to answer with."""

    __slots__ = ("req", "id")

    def __init__(self, req: Message, id_: Id) -> None:
        self.req = req
        self.id = id_


def _prepare(doc: Any, h: dict[str, str], in_batch: bool) -> Union[bytes, None, _Call]:
    """The response to a request object that names no call (an error; None for a notification
    without a method), or the call it names."""
    if not isinstance(doc, dict):
        if in_batch:
            return error_body(INVALID_REQUEST, "invalid request: not a JSON object", None)
        return error_body(PARSE_ERROR, f"json: cannot unmarshal {_go_kind(doc)} into Go value of type server.jsonrpcRequest")
    if "jsonrpc" in doc and doc["jsonrpc"] != "2.0":
        return error_body(PARSE_ERROR, f"invalid RPC version {doc['jsonrpc']}", None if in_batch else _NO_ID)
    raw_id = doc.get("id")
    id_: Id
    if raw_id is None:
        id_ = None  # a notification
    elif isinstance(raw_id, int) and not isinstance(raw_id, bool) and -(1 << 63) <= raw_id < 1 << 63:
        id_ = raw_id
    elif isinstance(raw_id, str):
        id_ = raw_id or 0  # Go's ID{Name: ""} marshals as its Number, 0
    else:
        return error_body(PARSE_ERROR, f"json: cannot unmarshal {_go_kind(raw_id)} into Go struct field "
                          "jsonrpcRequest.id of type string", None if in_batch else _NO_ID)
    method = doc.get("method", "")
    if not isinstance(method, str):
        return error_body(PARSE_ERROR, f"json: cannot unmarshal {_go_kind(method)} into Go struct field "
                          "jsonrpcRequest.method of type string", None if in_batch else _NO_ID)
    dot = method.rfind(".")
    if dot <= 0:
        return None if id_ is None else error_body(METHOD_NOT_FOUND, "must contains servicepath and method", id_)
    params = doc.get("params")
    payload = _encode_params(params if params is not None else {}).encode()
    metadata: dict[str, str] = {}
    if h.get(META):
        values, _ = parse_query(h[META])  # Go ignores a malformed X-RPCX-Meta here
        metadata = {k: v[0] for k, v in values.items() if v}
    if h.get("Authorization"):
        metadata[AUTH_KEY] = h["Authorization"]
    req = Message(message_type=MessageType.REQUEST, serialize_type=SerializeType.JSON,
                  service_path=method[:dot], service_method=method[dot + 1:], metadata=metadata, payload=payload)
    return _Call(req, id_)


def _response(call: _Call, handled: Handled) -> Optional[bytes]:
    """The response to a call that was served (None for a notification)."""
    if call.id is None:
        return None
    reply = handled.reply
    if reply is None or handled.refused or reply.status == MessageStatusType.ERROR:
        text = reply.metadata.get(SERVICE_ERROR, "") if reply is not None else "rpcx: no reply"
        return error_body(INTERNAL_ERROR, text, call.id)
    return result_body(bytes(reply.payload) or b"null", call.id)


async def _one(handle: Handle, doc: Any, h: dict[str, str], peer: Any, in_batch: bool) -> Optional[bytes]:
    """The response to one request object, or None for a notification."""
    p = _prepare(doc, h, in_batch)
    if not isinstance(p, _Call):
        return p
    return _response(p, await handle(p.req, peer))


def _parse(body: bytes) -> Union[Answer, Any]:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        text = "unexpected end of JSON input" if not body.strip() else f"invalid JSON: {exc}"
        return _answer(error_body(PARSE_ERROR, text))


async def serve_jsonrpc(handle: Handle, h: dict[str, str], body: bytes, peer: Any) -> Answer:
    """Answer one HTTP request carrying a JSON-RPC request or batch."""
    doc = _parse(body)
    if isinstance(doc, Answer):
        return doc
    if isinstance(doc, list):
        if not doc:
            return _answer(error_body(INVALID_REQUEST, "invalid request: empty batch", None))
        # the calls of a batch run concurrently (the spec allows any order of work; the array
        # keeps the order of the requests)
        parts = await asyncio.gather(*(_one(handle, d, h, peer, True) for d in doc))
        answered = [p for p in parts if p is not None]
        return _answer(b"[" + b",".join(answered) + b"]" if answered else None)
    return _answer(await _one(handle, doc, h, peer, False))


def jsonrpc_now(handle_now: Optional[HandleNow], h: dict[str, str], body: bytes, peer: Any) -> Optional[Answer]:
    """:func:`serve_jsonrpc` without waiting: the answer to a request that needs no call or whose
    call ``handle_now`` serves at once; None when it cannot (a batch, a call that has to wait),
    having run nothing (then ``await serve_jsonrpc(...)`` answers it)."""
    if body[:1] == b"[":
        return None  # a batch: its calls run concurrently on the awaiting path
    doc = _parse(body)
    if isinstance(doc, Answer):
        return doc
    if isinstance(doc, list):
        return None
    p = _prepare(doc, h, False)
    if not isinstance(p, _Call):
        return _answer(p)
    if handle_now is None:
        return None
    handled = handle_now(p.req, peer)
    return None if handled is None else _answer(_response(p, handled))


def _answer(body: Optional[bytes]) -> Answer:
    if body is None:
        return Answer(200)  # notifications: Go writes nothing
    return Answer(200, {"Context-Type": "application/json"}, body)
