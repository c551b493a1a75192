"""Routing per call (service, method, metadata, client address; exact, prefix, regex; first match
wins; default), weighted clusters, metadata edits, rewrites and fault injection, end to end through
the echo upstream (which reflects what reached it) and with seeded randomness."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from rpcx import Client, ServiceError
from rpcx.client import Option
from rpcx.protocol import FrameHeader, Message
from rpcx.protocol.constants import SerializeType
from rpcx.proxy import Faults, AbortFault, DelayFault, Match, Route, RouteTable, StringMatch
from rpcx.proxy.routing import LazyMetadata
from rpcx.protocol import encode

from .conftest import EchoUpstream, Recorder

RAW = Option(serialize_type=SerializeType.NONE)


def header(path: str = "Arith", method: str = "Mul", md: dict[str, str] | None = None) -> FrameHeader:
    return FrameHeader.parse(encode(Message(service_path=path, service_method=method, metadata=md or {})))


def test_first_match_wins_then_default() -> None:
    t = RouteTable([
        Route("exact", Match(service=StringMatch("exact", "Arith"), method=StringMatch("exact", "Mul")), (("a", 1),)),
        Route("prefix", Match(method=StringMatch("prefix", "Mu")), (("b", 1),)),
        Route("regex", Match(service=StringMatch("regex", r"Ar[a-z]+")), (("c", 1),)),
        Route("client", Match(client=StringMatch("prefix", "10.")), (("d", 1),)),
    ], default=Route("default", Match(), (("e", 1),)))
    assert t.select(header(), "127.0.0.1").name == "exact"
    assert t.select(header(method="Mux"), "127.0.0.1").name == "prefix"
    assert t.select(header(method="Add"), "127.0.0.1").name == "regex"
    assert t.select(header(path="Arith2", method="Add"), "127.0.0.1").name == "default"  # regex: a full match
    assert t.select(header(path="X", method="Add"), "10.1.2.3").name == "client"
    assert t.select(header(path="X", method="Add"), "127.0.0.1").name == "default"
    assert RouteTable([]).select(header(), "127.0.0.1") is None


def test_metadata_is_decoded_only_when_a_tried_route_needs_it() -> None:
    t = RouteTable([
        Route("by-path", Match(service=StringMatch("exact", "Arith")), (("a", 1),)),
        Route("by-md", Match(metadata=(("tenant", StringMatch("exact", "x")),)), (("b", 1),)),
    ])
    md = LazyMetadata(header(md={"tenant": "x"}))
    assert t.select(md._h, "h", md).name == "by-path" and not md.decoded
    md = LazyMetadata(header(path="Other", md={"tenant": "x"}))
    assert t.select(md._h, "h", md).name == "by-md" and md.decoded
    md = LazyMetadata(header(path="Other", md={"tenant": "y"}))
    assert t.select(md._h, "h", md) is None


def test_client_cidr() -> None:
    import ipaddress

    m = Match(client_cidr=(ipaddress.ip_network("127.0.0.0/8"),))
    md = LazyMetadata(header())
    assert m.accepts(md._h, "127.9.9.9", md) and not m.accepts(md._h, "10.0.0.1", md)
    assert not m.accepts(md._h, "/tmp/sock", md)  # a unix peer has no IP address


@pytest.mark.parametrize("p", [1.0, 10.0, 50.0])
def test_fault_percentages_are_within_tolerance(p: float) -> None:
    """Over 100,000 seeded draws the abort count is within 5 standard deviations of n*p (the seed
    fixes the count, so this cannot flake; the bound shows the draw is fair)."""
    n = 100_000
    f = Faults(abort=AbortFault(p, "x"))
    rng = random.Random(12345)
    k = sum(f.decide(rng, None)[1] is not None for _ in range(n))
    q = p / 100
    assert abs(k - n * q) <= 5 * math.sqrt(n * q * (1 - q))


def test_cluster_weights_are_within_tolerance() -> None:
    r = Route("w", Match(), (("a", 3), ("b", 1), ("c", 0)))
    rng = random.Random(99)
    n = 100_000
    picks = [r.pick_cluster(rng) for _ in range(n)]
    assert picks.count("c") == 0
    k = picks.count("a")
    assert abs(k - 0.75 * n) <= 5 * math.sqrt(n * 0.75 * 0.25)


def test_fault_when_metadata_matches() -> None:
    f = Faults(delay=DelayFault(100.0, 0.5, when=(("debug", StringMatch("exact", "1")),)),
               abort=AbortFault(100.0, "no", when=(("debug", None),)))
    rng = random.Random(1)
    assert f.decide(rng, LazyMetadata(header(md={"debug": "1"}))) == (0.5, "no")
    assert f.decide(rng, LazyMetadata(header(md={"debug": "2"}))) == (None, "no")
    assert f.decide(rng, LazyMetadata(header())) == (None, None)


async def test_routes_to_clusters_by_service_method_and_metadata(proxy_factory) -> None:
    ups = [EchoUpstream() for _ in range(3)]
    for u in ups:
        await u.start()
    try:
        _, paddr = await proxy_factory({
            "clusters": {"a": {"servers": [ups[0].address]}, "b": {"servers": [ups[1].address]},
                         "c": {"servers": [ups[2].address]}},
            "routes": [
                {"name": "tenant", "match": {"metadata": {"tenant": {"regex": "gold|platinum"}}}, "cluster": "c"},
                {"name": "mul", "match": {"service": "Arith", "method": {"prefix": "Mu"}}, "cluster": "b"},
            ],
            "default": {"cluster": "a"},
        })
        async with await Client.connect(paddr, RAW) as c:
            await c.call("Arith", "Mul", b"1")
            await c.call("Arith", "Add", b"2")
            await c.call("Arith", "Add", b"3", metadata={"tenant": "gold"})
            await c.call("Arith", "Mul", b"4", metadata={"tenant": "silver"})
        got = [[f[-1:] for f in u.frames] for u in ups]
        assert got == [[b"2"], [b"1", b"4"], [b"3"]]
    finally:
        for u in ups:
            await u.aclose()


async def test_no_route_is_an_rpcx_error(proxy_factory, echo_upstream) -> None:
    rec = Recorder()
    _, paddr = await proxy_factory({"clusters": {"a": {"servers": [echo_upstream.address]}},
                                    "routes": [{"match": {"service": "Arith"}, "cluster": "a"}]}, observers=[rec])
    async with await Client.connect(paddr, RAW) as c:
        with pytest.raises(ServiceError, match=r"^rpcx proxy: no route for Other\.Mul$"):
            await c.call("Other", "Mul", b"")
    assert rec.records[0].status == "error" and rec.records[0].route is None


async def test_metadata_edits_and_rewrite_reach_upstream(proxy_factory, echo_upstream) -> None:
    _, paddr = await proxy_factory({"clusters": {"a": {"servers": [echo_upstream.address]}}, "default": {
        "cluster": "a", "metadata": {"set": {"s": "new"}, "add": {"a": "added", "keep": "no"}, "remove": ["gone"]},
        "rewrite": {"service": "Calc", "method": "Times"}}})
    async with await Client.connect(paddr, RAW) as c:
        md: dict[str, str] = {}
        payload = bytes(range(256)) * 8
        assert await c.call("Arith", "Mul", payload, metadata={"s": "old", "keep": "yes", "gone": "x"},
                            response_metadata=md) == payload
    assert md == {"s": "new", "keep": "yes", "a": "added"}
    h = FrameHeader.parse(echo_upstream.frames[0])
    assert (h.service_path, h.service_method) == ("Calc", "Times")


async def test_weighted_clusters_end_to_end(proxy_factory) -> None:
    ups = [EchoUpstream() for _ in range(2)]
    for u in ups:
        await u.start()
    try:
        _, paddr = await proxy_factory({
            "clusters": {"a": {"servers": [ups[0].address]}, "b": {"servers": [ups[1].address]}},
            "default": {"clusters": [{"name": "a", "weight": 1}, {"name": "b", "weight": 4}]},
        }, seed=2024)
        n = 2000
        async with await Client.connect(paddr, RAW) as c:
            await asyncio.gather(*(c.call("S", "M", b"") for _ in range(n)))
        k = len(ups[1].frames)
        assert len(ups[0].frames) + k == n
        assert abs(k - 0.8 * n) <= 5 * math.sqrt(n * 0.8 * 0.2)
    finally:
        for u in ups:
            await u.aclose()


async def test_abort_and_delay_faults_end_to_end(proxy_factory, echo_upstream) -> None:
    rec = Recorder()
    _, paddr = await proxy_factory({"clusters": {"a": {"servers": [echo_upstream.address]}}, "routes": [
        {"name": "abort", "match": {"method": "Abort"}, "cluster": "a",
         "faults": {"abort": {"percent": 30, "error": "injected failure"}}},
        {"name": "delay", "match": {"method": "Delay"}, "cluster": "a",
         "faults": {"delay": {"percent": 100, "duration": "20ms", "when": {"slow": {"present": True}}}}},
    ]}, seed=5, observers=[rec])
    n = 1000
    async with await Client.connect(paddr, RAW) as c:
        results = await asyncio.gather(*(c.call("S", "Abort", b"") for _ in range(n)), return_exceptions=True)
        aborted = [r for r in results if isinstance(r, ServiceError)]
        assert all(str(e) == "injected failure" for e in aborted)
        assert abs(len(aborted) - 0.3 * n) <= 5 * math.sqrt(n * 0.3 * 0.7)
        assert len(echo_upstream.frames) == n - len(aborted)
        assert await c.call("S", "Delay", b"d", metadata={"slow": "1"}) == b"d"
        assert await c.call("S", "Delay", b"e") == b"e"
    faults = [r.fault for r in rec.records]
    assert faults.count("abort") == len(aborted)
    delayed = [r for r in rec.records if r.method == "Delay"]
    assert [r.fault for r in delayed] == ["delay", None]
