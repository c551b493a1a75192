"""Writes joined per loop turn: every frame the proxy sends a connection in one turn leaves in one
write, at the end of that turn, in the order it was sent; a closed transport gets nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from rpcx.protocol import FrameDecoder, Limits, Message, encode
from rpcx.proxy.downstream import DownstreamConnection
from rpcx.proxy.turn import TurnWriter, turn_writer
from rpcx.proxy import upstream
from rpcx.proxy.upstream import UpstreamConnection


class CountingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


class NoEvents:
    def __getattr__(self, name: str) -> Any:
        return lambda *a: None


async def test_frames_sent_in_one_turn_leave_in_one_write_per_connection(monkeypatch: Any) -> None:
    tr = CountingTransport()

    async def fake_dial(addr: Any, factory: Any, **kw: Any) -> None:
        factory().connection_made(tr)

    monkeypatch.setattr(upstream, "dial", fake_dial)
    up = UpstreamConnection("tcp@127.0.0.1:9", NoEvents())  # type: ignore[arg-type]
    up.start()
    await asyncio.sleep(0)
    assert up.open
    frames = [encode(Message(service_path="A", service_method="B", seq=i, payload=b"p" * i)) for i in range(10)]
    for f in frames:
        up.forward(f, None)  # oneway: nothing kept
    assert tr.writes == []  # nothing written before the turn ends
    await asyncio.sleep(0)
    assert len(tr.writes) == 1
    got = FrameDecoder(Limits(0, 0)).feed_frames(tr.writes[0])
    assert [g[12:] for g in got] == [f[12:] for f in frames]  # every frame, in order, only the seq changed
    up.forward(frames[0], None)
    await asyncio.sleep(0)
    assert len(tr.writes) == 2  # the next turn: its own write
    tr.closing = True
    up.forward(frames[1], None)
    await asyncio.sleep(0)
    assert len(tr.writes) == 2  # a closing transport is not written to


async def test_replies_to_many_clients_in_one_turn_cost_one_write_each() -> None:
    from rpcx.proxy import build_proxy, parse_config

    proxy = await build_proxy(parse_config({"listen": "tcp@127.0.0.1:0", "clusters": {"c": {"servers": ["tcp@127.0.0.1:9"]}},
                                            "default": {"cluster": "c"}}))
    downs = []
    for _ in range(3):
        d = DownstreamConnection(proxy)
        d.connection_made(CountingTransport())
        downs.append(d)
    for i in range(4):
        for d in downs:
            d.send(encode(Message(message_type=1, seq=i)))
    assert all(d.transport.writes == [] for d in downs)  # type: ignore[union-attr]
    await asyncio.sleep(0)
    for d in downs:
        writes = d.transport.writes  # type: ignore[union-attr]
        assert len(writes) == 1 and [f[4:12] for f in FrameDecoder(Limits(0, 0)).feed_frames(writes[0])] == [
            i.to_bytes(8, "big") for i in range(4)]
    await proxy.aclose()


async def test_one_turn_writer_per_loop() -> None:
    loop = asyncio.get_running_loop()
    w = turn_writer(loop)
    assert isinstance(w, TurnWriter) and turn_writer(loop) is w


async def test_a_connection_whose_write_fails_does_not_keep_the_others_frames(caplog: Any) -> None:
    class Broken:
        def flush(self) -> None:
            raise RuntimeError("boom")

    class Fine:
        flushed = 0

        def flush(self) -> None:
            Fine.flushed += 1

    w = TurnWriter(asyncio.get_running_loop())
    w.enrol(Broken())
    w.enrol(Fine())
    await asyncio.sleep(0)
    assert Fine.flushed == 1 and "boom" in caplog.text
