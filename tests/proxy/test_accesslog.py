"""The access log end to end: one JSON line per call the filter accepts, unfinished calls included."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from rpcx import Client, ServiceError
from rpcx.client import Option
from rpcx.protocol.constants import SerializeType
from rpcx.proxy import AccessLog

from .conftest import Recorder

RAW = Option(serialize_type=SerializeType.NONE)


async def test_filter_on_status_time_and_metadata(proxy_factory, server) -> None:
    out = io.StringIO()
    log = AccessLog('status == "error" or metadata["trace"] == "yes"', stream=out)
    _, paddr = await proxy_factory({"clusters": {"a": {"servers": [server]}}, "default": {"cluster": "a"}},
                                   observers=[log])
    async with await Client.connect(paddr) as c:
        await c.call("Arith", "Mul", {"A": 1, "B": 2})
        await c.call("Arith", "Mul", {"A": 1, "B": 3}, metadata={"trace": "yes"})
        with pytest.raises(ServiceError):
            await c.call("Arith", "Fail", {"A": 1, "B": 2})
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [(r["method"], r["status"]) for r in lines] == [("Mul", "ok"), ("Fail", "error")]
    assert lines[1]["error"] == "arith failed on purpose" and lines[0]["route"] == "default"
    assert lines[0]["upstream"] == server and lines[0]["cluster"] == "a"
    # the time upstream took is part of (so no more than) the time the client saw
    assert 0 < lines[0]["upstream_time"] <= lines[0]["rpc_time"] and lines[0]["retries"] == 0
    assert log.wants_metadata


async def test_unfinished_calls_are_logged(proxy_factory, echo_upstream) -> None:
    out = io.StringIO()
    log = AccessLog('status == "unfinished"', stream=out)
    rec = Recorder()
    _, paddr = await proxy_factory({"clusters": {"a": {"servers": [echo_upstream.address]}},
                                    "default": {"cluster": "a"}}, observers=[log, rec])
    echo_upstream.hold = True
    c = await Client.connect(paddr, RAW)
    pending = asyncio.ensure_future(c.call("Arith", "Echo", b"x"))
    async with asyncio.timeout(10):
        while not echo_upstream.frames:
            await asyncio.sleep(0.01)
    await c.aclose()
    with pytest.raises(Exception):
        await pending
    await rec.wait_for(1)
    [line] = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["status"] == "unfinished" and line["error"] == "the client closed the connection"
    assert line["upstream_time"] is None  # no reply came from upstream
    assert not log.wants_metadata
