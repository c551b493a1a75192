"""Golden frames captured from real Go rpcx (tests/interop/gengolden writes tests/golden/frames.json).

Each frame's wire bytes must parse to the fields Go's ``protocol.Read`` reported, and our encoder
must write the same bytes back (compressed payloads excepted: gzip output may differ by library).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from rpcx.protocol import (
    SERVICE_ERROR,
    FrameDecoder,
    Limits,
    encode,
    heartbeat_echo,
    heartbeat_request,
    make_response,
    parse_frame,
)

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
FRAMES_JSON = GOLDEN_DIR / "frames.json"


def _load() -> list[dict[str, Any]]:
    if not FRAMES_JSON.exists():
        return []
    data = json.loads(FRAMES_JSON.read_text())
    if isinstance(data, dict):
        data = data.get("frames", [])
    return list(data)


FRAMES = _load()
BY_NAME = {f["name"]: f for f in FRAMES}

pytestmark = pytest.mark.skipif(
    not FRAMES,
    reason=f"golden frames missing: {FRAMES_JSON} does not exist (run tests/interop/gengolden to create it)",
)


def _wire(f: dict[str, Any]) -> bytes:
    return bytes.fromhex(f["wire_hex"])


def _ids(frames: list[dict[str, Any]]) -> list[str]:
    return [f["name"] for f in frames]


@pytest.mark.parametrize("frame", FRAMES, ids=_ids(FRAMES))
def test_bin_file_matches_wire_hex(frame: dict[str, Any]) -> None:
    path = GOLDEN_DIR / frame["file"]
    if path.exists():
        assert path.read_bytes() == _wire(frame)


@pytest.mark.parametrize("frame", FRAMES, ids=_ids(FRAMES))
def test_parse_matches_go(frame: dict[str, Any]) -> None:
    m = parse_frame(_wire(frame))
    assert m.seq == frame["seq"]
    assert m.message_type == frame["message_type"]
    assert m.heartbeat == frame["heartbeat"]
    assert m.oneway == frame["oneway"]
    assert m.compress_type == frame["compress"]
    assert m.status == frame["status"]
    assert m.serialize_type == frame["serialize"]
    assert m.service_path == frame["service_path"]
    assert m.service_method == frame["service_method"]
    assert m.metadata == (frame["metadata"] or {})
    assert m.payload == bytes.fromhex(frame["payload_hex"])


@pytest.mark.parametrize("frame", FRAMES, ids=_ids(FRAMES))
def test_encode_reproduces_go_bytes(frame: dict[str, Any]) -> None:
    wire = _wire(frame)
    m = parse_frame(wire)
    ours = encode(m)
    (total,) = struct.unpack_from(">I", ours, 12)
    assert total == len(ours) - 16
    if frame["compress"]:
        # gzip bytes depend on the library; what must agree is what they inflate to
        assert parse_frame(ours) == m
        assert parse_frame(ours).payload == bytes.fromhex(frame["payload_hex"])
        assert ours[:12] == wire[:12]
    elif len(m.metadata) > 1:
        assert parse_frame(ours) == m  # Go writes map entries in random order
    else:
        assert ours == wire


def test_whole_capture_through_the_decoder_at_every_split() -> None:
    stream = b"".join(_wire(f) for f in FRAMES)
    expected = [parse_frame(_wire(f)) for f in FRAMES]
    assert FrameDecoder().feed(stream) == expected
    step = max(1, len(stream) // 400)
    for cut in range(0, len(stream) + 1, step):
        d = FrameDecoder(Limits())
        assert d.feed(stream[:cut]) + d.feed(stream[cut:]) == expected, cut


def _pairs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for f in FRAMES:
        if f["direction"] == "request" and f["name"].endswith("_request"):
            res = BY_NAME.get(f["name"][: -len("_request")] + "_response")
            if res is not None:
                out.append((f, res))
    return out


PAIRS = _pairs()


@pytest.mark.parametrize(("req", "res"), PAIRS, ids=[r["name"] for r, _ in PAIRS])
def test_our_response_to_go_request_is_what_go_server_sent(req: dict[str, Any], res: dict[str, Any]) -> None:
    request = parse_frame(_wire(req))
    golden = parse_frame(_wire(res))
    if request.heartbeat:
        ours = heartbeat_echo(request)
    else:
        md = dict(golden.metadata)
        error = md.pop(SERVICE_ERROR, None) if golden.status else None
        ours = make_response(request, golden.payload, md, error=error)
    if golden.compress_type or len(golden.metadata) > 1:
        assert ours == golden
    else:
        assert encode(ours) == _wire(res)


def test_heartbeat_request_is_what_go_sends() -> None:
    f = BY_NAME.get("heartbeat_request")
    if f is None:
        pytest.skip("no heartbeat_request in the golden set")
    m = parse_frame(_wire(f))
    (now_ns,) = struct.unpack(">q", m.payload[1:])
    assert encode(heartbeat_request(m.seq, now_ns)) == _wire(f)


def test_golden_set_covers_the_interesting_cases() -> None:
    # a capture that silently lost its gzip, heartbeat, oneway or error frames would pass the rest
    assert any(f["compress"] for f in FRAMES)
    assert any(f["heartbeat"] for f in FRAMES)
    assert any(f["oneway"] for f in FRAMES)
    assert any(f["status"] for f in FRAMES)
    assert len({f["serialize"] for f in FRAMES}) >= 3
