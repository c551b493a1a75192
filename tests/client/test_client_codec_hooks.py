"""The client plugin hooks ``before_encode`` and ``after_decode`` (Go's ClientBeforeEncode and
ClientAfterDecode), on real loopback servers: what each sees, what it may change, what its error
does, and that a client without them keeps the fast path (no Message built, no reply parsed)."""

from __future__ import annotations

import pytest
from arith_service import Args, Reply

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, XClient
from rpcx.client import Call, Client
from rpcx.client.plugins import ClientPluginContainer
from rpcx.codec.base import CodecRegistry
from rpcx.protocol.constants import CompressType, SerializeType
from rpcx.protocol.message import Message

WAIT = 10.0
CODECS = CodecRegistry()


def xclient(*addrs: str, **opt) -> XClient:
    return XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN,
                   MultipleServersDiscovery([KVPair(a) for a in addrs]), Option(**opt))


class Seen:
    """Records every message each hook sees; changes nothing."""

    def __init__(self) -> None:
        self.encoded: list[Message] = []
        self.decoded: list[Message] = []

    def before_encode(self, msg: Message) -> None:
        self.encoded.append(msg)

    def after_decode(self, msg: Message) -> None:
        self.decoded.append(msg)


async def test_hooks_see_the_encoded_request_and_the_decoded_reply(server) -> None:
    seen = Seen()
    async with xclient(server) as xc:
        xc.plugins.add(seen)
        assert await xc.call("Mul", Args(3, 4), Reply, metadata={"a": "1"}, timeout=WAIT) == Reply(12)
    (req,) = seen.encoded
    assert (req.service_path, req.service_method, req.serialize_type) == ("Arith", "Mul", SerializeType.MSGPACK)
    assert req.metadata["a"] == "1" and "__ServerTimeout" in req.metadata  # the wire metadata, XClient's included
    assert CODECS.get(SerializeType.MSGPACK).decode(req.payload, Args) == Args(3, 4)  # args already encoded
    (res,) = seen.decoded
    assert res.is_response and res.error is None
    assert CODECS.get(res.serialize_type).decode(res.payload, Reply) == Reply(12)


async def test_before_encode_sees_the_payload_before_compression_and_after_decode_after(server) -> None:
    seen = Seen()
    big = bytes(range(256)) * 8  # over Go's 1024-byte threshold
    async with xclient(server, compress_type=CompressType.GZIP, serialize_type=SerializeType.NONE) as xc:
        xc.plugins.add(seen)
        assert await xc.call("Echo", big, bytes, timeout=WAIT) == big
    # Go: compress type set, payload still plain (Encode compresses); the reply arrives decompressed
    assert seen.encoded[0].compress_type == CompressType.GZIP and seen.encoded[0].payload == big
    assert seen.decoded[0].payload == big


async def test_before_encode_may_change_payload_and_metadata(server) -> None:
    class Rewrite:
        def before_encode(self, msg: Message) -> Message:
            if msg.service_method == "Mul":
                return msg.replace(payload=CODECS.get(msg.serialize_type).encode(Args(5, 6)))
            msg.metadata["k"] = "set by the hook"  # Go's plugins change the message in place: that works too
            return None  # type: ignore[return-value]

    async with xclient(server) as xc:
        xc.plugins.add(Rewrite())
        assert await xc.call("Mul", Args(1, 1), Reply, timeout=WAIT) == Reply(30)
        md: dict[str, str] = {}
        assert await xc.call("Echo", b"x", bytes, response_metadata=md, timeout=WAIT) == b"x"
        assert md["k"] == "set by the hook"  # the server saw it (Echo copies k back)


async def test_after_decode_may_change_the_reply_and_its_metadata(server) -> None:
    class Tamper:
        def after_decode(self, msg: Message) -> Message:
            return msg.replace(payload=CODECS.get(msg.serialize_type).encode(Reply(99)),
                               metadata={**msg.metadata, "seen": "yes"})

    async with xclient(server) as xc:
        xc.plugins.add(Tamper())
        md: dict[str, str] = {}
        assert await xc.call("Mul", Args(2, 2), Reply, response_metadata=md, timeout=WAIT) == Reply(99)
        assert md == {"seen": "yes"}


async def test_hooks_added_after_the_dial_apply_and_removed_ones_stop(server) -> None:
    seen = Seen()
    async with xclient(server) as xc:
        assert await xc.call("Mul", Args(1, 2), Reply, timeout=WAIT) == Reply(2)  # dialled, no hooks
        xc.plugins.add(seen)
        await xc.call("Mul", Args(1, 3), Reply, timeout=WAIT)
        xc.plugins.remove(seen)
        await xc.call("Mul", Args(1, 4), Reply, timeout=WAIT)
    assert len(seen.encoded) == len(seen.decoded) == 1


async def test_raising_hooks_fail_that_call_only(server) -> None:
    class Refuse:
        def __init__(self, where: str) -> None:
            self.where = where

        def before_encode(self, msg: Message) -> None:
            if self.where == "encode":
                raise PermissionError("not sent")

        def after_decode(self, msg: Message) -> None:
            if self.where == "decode":
                raise ValueError("cannot read this reply")

    async with xclient(server) as xc:
        for where, exc in (("encode", PermissionError), ("decode", ValueError)):
            plugin = Refuse(where)
            xc.plugins.add(plugin)
            with pytest.raises(exc):
                await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT)
            xc.plugins.remove(plugin)
            # the connection is untouched: the next call on it succeeds
            assert await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)
        assert len(xc._clients) == 1


async def test_a_hook_returning_something_else_than_a_message_fails_the_call(server) -> None:
    class Wrong:
        def __init__(self, where: str) -> None:
            self.where = where

        def before_encode(self, msg: Message) -> object:
            return b"not a message" if self.where == "encode" else None

        def after_decode(self, msg: Message) -> object:
            return {"C": 1} if self.where == "decode" else None

    async with xclient(server) as xc:
        for where in ("encode", "decode"):
            plugin = Wrong(where)
            xc.plugins.add(plugin)
            with pytest.raises(TypeError, match=f"{where}.*returned (bytes|dict), not a Message or None"):
                await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT)
            xc.plugins.remove(plugin)
        assert await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)


async def test_after_decode_sees_pushes_and_oneway_passes_before_encode(server) -> None:
    pushes: list[Message] = []

    class Mark(Seen):
        def after_decode(self, msg: Message) -> Message:
            super().after_decode(msg)
            return msg.replace(payload=msg.payload.upper()) if msg.is_push else msg

    plugins = ClientPluginContainer()
    mark = Mark()
    plugins.add(mark)
    async with await Client.connect(server, plugins=plugins, on_push=pushes.append) as c:
        assert await c.call("Arith", "Echo", b"hello", bytes, metadata={"push": "1"}, serialize_type=0) == b"hello"
        await c.oneway("Arith", "Echo", b"one", serialize_type=0)
    assert [m.payload for m in pushes] == [b"HELLO"]  # the push went through after_decode first
    assert [m.is_push for m in mark.decoded] == [True, False]
    assert [m.oneway for m in mark.encoded] == [False, True]


async def test_send_raw_skips_before_encode_as_go_does(server) -> None:
    seen = Seen()
    async with xclient(server) as xc:
        xc.plugins.add(seen)
        raw = Message(service_path="Arith", service_method="Echo", serialize_type=0, payload=b"raw")
        res = await xc.send_raw(raw, timeout=WAIT)
    assert res.payload == b"raw"
    assert seen.encoded == [] and [m.payload for m in seen.decoded] == [b"raw"]  # Go's input() sees every reply


async def test_without_codec_hooks_a_call_builds_no_message_and_parses_no_reply(server, monkeypatch) -> None:
    """The fast path: plugins without before_encode/after_decode cost the call nothing of theirs."""
    built: list[str] = []
    real_build, real_decode = Client.build_request, Client._decode_reply

    def build(self, *a, **kw):
        built.append("request")
        return real_build(self, *a, **kw)

    def decode(self, *a, **kw):
        built.append("reply")
        return real_decode(self, *a, **kw)

    monkeypatch.setattr(Client, "build_request", build)
    monkeypatch.setattr(Client, "_decode_reply", decode)

    class PreOnly:
        def pre_call(self, call: Call, key: str) -> None:
            pass

    async with xclient(server) as xc:
        xc.plugins.add(PreOnly())
        for i in range(3):
            assert await xc.call("Mul", Args(i, 2), Reply, timeout=WAIT) == Reply(2 * i)
        assert built == []  # encoded straight into a frame, decoded straight from it
        xc.plugins.add(Seen())
        assert await xc.call("Mul", Args(3, 3), Reply, timeout=WAIT) == Reply(9)
        assert built == ["request", "reply"]  # the hooks need the Message on both sides
