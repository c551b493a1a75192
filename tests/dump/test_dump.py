"""``rpcx dump``: rpcx frames from pcap/pcapng captures (written here from known frames: tcpdump is
not available) with TCP reassembly, and live between a real client and a real server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
from conftest import WAIT
from pcapwriter import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, Conversation, Seg, pcap, pcapng

from rpcx import Client
from rpcx.dump import Shown
from rpcx.dump.pcap import CaptureError, Reassembler, TcpSegment, packets
from rpcx.dump.relay import read_capture
from rpcx.protocol.constants import MessageStatusType
from rpcx.protocol.message import Message, encode

CLIENT, SERVER = ("127.0.0.1", 53422), ("127.0.0.1", 8972)

REQ = Message(seq=1, service_path="Arith", service_method="Mul", serialize_type=1, metadata={"trace": "t1"},
              payload=b'{"A":10,"B":20}')
RES = Message(message_type=1, seq=1, service_path="Arith", service_method="Mul", serialize_type=1,
              metadata={"served-by": "py"}, payload=b'{"C":200}')
MP_REQ = Message(seq=2, service_path="Arith", service_method="Add", serialize_type=3,
                 payload=msgpack.packb({"A": 1, "B": 2}))
ZIP_REQ = Message(seq=3, service_path="Echo", service_method="Echo", serialize_type=0, compress_type=1,
                  payload=b"x" * 3000)
BEAT = Message(seq=4, heartbeat=True)
ERR = Message(message_type=1, status=MessageStatusType.ERROR, seq=2, service_path="Arith", service_method="Add", serialize_type=3,
              metadata={"__rpcx_error__": "boom"})


def conversation(cut: int = 7, client: tuple[str, int] = CLIENT, server: tuple[str, int] = SERVER) -> Conversation:
    c = Conversation(client, server)
    c.send(True, encode(REQ) + encode(MP_REQ), cut)
    c.send(False, encode(RES), cut)
    c.send(False, encode(ERR), cut)
    c.send(True, encode(ZIP_REQ) + encode(BEAT), cut)
    c.close()
    return c


def seen(data: bytes, port: int | None = None) -> tuple[list[Shown], list[Shown]]:
    out: list[Shown] = []
    read_capture(data, out.append, port)
    return [s for s in out if s.message is not None], [s for s in out if s.message is None]


def check_frames(frames: list[Shown], client: tuple[str, int] = CLIENT) -> None:
    got = [(s.src == client, s.message) for s in frames]
    assert got == [(True, REQ), (True, MP_REQ), (False, RES), (False, ERR), (True, ZIP_REQ.replace()), (True, BEAT)]
    docs = [s.as_json() for s in frames]
    assert docs[0] | {"time": None} == {
        "time": None, "src": "127.0.0.1:53422" if client == CLIENT else docs[0]["src"], "dst": docs[0]["dst"],
        "type": "request", "seq": 1, "service": "Arith", "method": "Mul", "serialize": "json", "compress": 0,
        "oneway": False, "heartbeat": False, "status": "normal", "metadata": {"trace": "t1"},
        "payload": {"A": 10, "B": 20}}
    assert docs[1]["payload"] == {"A": 1, "B": 2} and docs[1]["serialize"] == "msgpack"
    assert (docs[2]["type"], docs[2]["payload"], docs[2]["metadata"]) == ("response", {"C": 200}, {"served-by": "py"})
    assert (docs[3]["status"], docs[3]["error"]) == ("error", "boom")
    assert docs[4]["compress"] == 1 and docs[4]["payload"] == "eHh4" * 1000  # unzipped, raw bytes as base64
    assert docs[5]["heartbeat"] and docs[5]["type"] == "heartbeat"


@pytest.mark.parametrize("write", [
    lambda segs: pcap(segs),
    lambda segs: pcap(segs, LINKTYPE_RAW, big_endian=True),
    lambda segs: pcapng(segs, LINKTYPE_LINUX_SLL2),
], ids=["pcap-ethernet", "pcap-big-endian-raw-ip", "pcapng-linux-cooked-v2"])
def test_frames_from_a_capture_cut_into_small_segments(write) -> None:
    c = conversation()
    frames, notes = seen(write(c.segs))
    check_frames(frames)
    assert notes == []


def test_ipv6_capture_and_times() -> None:
    client, server = ("::1", 40000), ("::1", 8972)
    c = conversation(cut=100, client=client, server=server)
    frames, _ = seen(pcapng(c.segs))
    check_frames(frames, client)
    assert frames[0].as_json()["src"] == "[::1]:40000"
    assert frames[0].time == pytest.approx(c.segs[3].time, abs=1e-6)


def test_reordered_and_retransmitted_segments_are_put_back_in_order() -> None:
    c = Conversation(CLIENT, SERVER)
    stream = encode(REQ) + encode(MP_REQ)
    c.send(True, stream, 5)
    head, rest = c.segs[:3], c.segs[3:]
    rest[2], rest[3] = rest[3], rest[2]  # one segment late
    rest.insert(6, rest[5])  # one sent twice
    # a retransmission overlapping what came before and carrying 4 new bytes (the next segment's)
    start = rest[8].seq - 3
    rest.insert(9, Seg(rest[8].time, CLIENT, SERVER, start, rest[8].flags, stream[start - 1000:start - 1000 + 12]))
    frames, notes = seen(pcap(head + rest))
    assert [s.message for s in frames] == [REQ, MP_REQ] and notes == []


def test_a_lost_segment_is_reported_and_the_direction_skipped() -> None:
    r = Reassembler(max_pending=20)
    a, b = ("10.0.0.1", 1), ("10.0.0.2", 2)
    assert r.add(TcpSegment(0, a, b, 100, 0, b"abc")) == [(0, b"abc")]
    assert r.add(TcpSegment(0, a, b, 113, 0, b"x" * 15)) == []  # 10 bytes (103..112) never arrive
    assert r.gaps == set()
    assert r.add(TcpSegment(0, a, b, 128, 0, b"y" * 10)) == [(0, b"x" * 15), (0, b"y" * 10)]
    assert r.gaps == {(a, b)}

    c = Conversation(CLIENT, SERVER)
    c.send(True, encode(REQ), 10)
    del c.segs[4]
    c.send(True, b"z" * (5 * 1024 * 1024), 60000)  # enough behind the hole to give it up
    frames, notes = seen(pcap(c.segs))
    assert frames == [] and any("missing" in n.note for n in notes)


def test_connections_that_are_not_rpcx_are_noted_and_skipped_and_port_filters() -> None:
    rpcx = conversation()
    http = Conversation(("127.0.0.1", 50000), ("127.0.0.1", 8080))
    http.send(True, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
    other = conversation(client=("127.0.0.1", 50001), server=("127.0.0.1", 9999))
    data = pcap(rpcx.segs + http.segs + other.segs)
    frames, notes = seen(data)
    assert len(frames) == 12
    assert [n.note.split(" (")[0] for n in notes] == ["not rpcx"] and notes[0].src == ("127.0.0.1", 50000)
    frames, notes = seen(data, port=8972)
    check_frames(frames)
    assert notes == []


def test_not_a_capture() -> None:
    with pytest.raises(CaptureError, match="not a pcap or pcapng file"):
        list(packets(b"GIF89a........................."))
    truncated = pcap(conversation().segs)[:-80]  # tcpdump killed mid-write: the whole packets still count
    frames, notes = seen(truncated)
    assert len(frames) == 5 and [n.note.split(" (")[0] for n in notes] == ["the capture ends inside a frame"]


# -- the command ------------------------------------------------------------------------------------
def rpcx(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rpcx", *argv], capture_output=True, text=True, timeout=60)


def test_cli_prints_one_line_per_frame_and_json_for_scripts(tmp_path: Path) -> None:
    f = tmp_path / "calls.pcap"
    f.write_bytes(pcap(conversation().segs))
    out = rpcx("dump", str(f), "--port", "8972")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 6
    assert lines[0].endswith('127.0.0.1:53422 > 127.0.0.1:8972 request seq=1 Arith.Mul json meta={"trace":"t1"} '
                             '{"A":10,"B":20}')
    assert lines[3].endswith('127.0.0.1:8972 > 127.0.0.1:53422 response seq=2 Arith.Add msgpack error="boom" meta={}')
    assert lines[5].endswith("127.0.0.1:53422 > 127.0.0.1:8972 heartbeat seq=4")
    out = rpcx("dump", str(f), "--json")
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(d["seq"], d["type"]) for d in docs] == [(1, "request"), (2, "request"), (1, "response"),
                                                     (2, "response"), (3, "request"), (4, "heartbeat")]


def test_cli_exit_statuses_and_what_to_do(tmp_path: Path) -> None:
    f = tmp_path / "calls.pcap"
    f.write_bytes(pcap(conversation().segs))
    out = rpcx("dump", str(f), "--port", "1234")
    assert out.returncode == 1 and "no rpcx frames" in out.stderr and "tcpdump -i lo" in out.stderr
    (tmp_path / "junk").write_bytes(b"hello world")
    out = rpcx("dump", str(tmp_path / "junk"))
    assert out.returncode == 1 and "tcpdump -w" in out.stderr and "Traceback" not in out.stderr
    assert rpcx("dump", str(tmp_path / "missing.pcap")).returncode == 1
    for argv in ([], ["--listen", "127.0.0.1:0"], ["--upstream", "127.0.0.1:1"], [str(f), "--listen", "x:1"],
                 ["--listen", "nope", "--upstream", "127.0.0.1:1"]):
        out = rpcx("dump", *argv)
        assert out.returncode == 2 and out.stderr.startswith("rpcx dump: ") and "--help" in out.stderr, argv


async def test_relay_between_a_real_client_and_server(server: str) -> None:
    upstream = server.partition("@")[2]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rpcx", "dump", "--listen", "127.0.0.1:0", "--upstream", upstream, "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), WAIT)).decode()
        assert first.startswith("serving tcp@127.0.0.1:"), first
        relay = first.split()[1]
        async with await Client.connect(relay) as c:
            meta: dict[str, str] = {}
            assert await c.call("Arith", "Mul", {"A": 10, "B": 20}, metadata={"k": "v"},
                                response_metadata=meta) == {"C": 200}
            await c.heartbeat(timeout=WAIT)
        docs = [json.loads(await asyncio.wait_for(proc.stdout.readline(), WAIT)) for _ in range(4)]
        req, res, beat, beat_reply = docs
        assert (req["type"], req["service"], req["method"], req["metadata"], req["payload"]) == (
            "request", "Arith", "Mul", {"k": "v"}, {"A": 10, "B": 20})
        assert (res["type"], res["seq"], res["payload"], res["dst"]) == ("response", req["seq"], {"C": 200}, req["src"])
        assert (beat["type"], beat_reply["type"]) == ("heartbeat", "heartbeat-reply")
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0


async def test_relay_says_when_the_upstream_is_down() -> None:
    from conftest import dead_address

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rpcx", "dump", "--listen", "127.0.0.1:0", "--upstream", dead_address().partition("@")[2],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        relay = (await asyncio.wait_for(proc.stdout.readline(), WAIT)).decode().split()[1]
        host, _, port = relay.partition("@")[2].rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        assert await asyncio.wait_for(reader.read(), WAIT) == b""  # closed
        writer.close()
        note = (await asyncio.wait_for(proc.stderr.readline(), WAIT)).decode()
        assert "cannot reach the upstream server" in note
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
