"""``XClientPool``, ``OneClient``, ``OneClientPool`` and a bidirectional XClient (``on_push``) on real
Python servers."""

from __future__ import annotations

import asyncio

import pytest
from arith_service import Args, Arith, Reply

from rpcx import (
    ClientClosedError,
    Context,
    FailMode,
    KVPair,
    MultipleServersDiscovery,
    SelectMode,
)
from rpcx.client import OneClient, OneClientPool, XClientPool
from rpcx.protocol.message import Message, SerializeType

WAIT = 10.0


class Who(Arith):
    """Arith that also says which server answered and what auth token it saw."""

    def __init__(self, name: str) -> None:
        self.name = name

    def who(self, ctx: Context) -> list[str]:
        return [self.name, ctx.metadata.get("__AUTH", "")]


class Greeter:
    def hello(self, name: str) -> str:
        return f"hello {name}"


class Dials:
    """A client plugin: every connection dialled, by the XClient it belongs to."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def client_connected(self, key: str, client) -> None:
        self.keys.append(key)


async def servers(server_factory, n: int) -> list[str]:
    addrs = []
    for i in range(n):
        srv, addr = await server_factory(register=False)
        srv.register(Who(f"s{i}"), name="Arith")
        srv.register(Greeter(), name="Greeter")
        addrs.append(addr)
    return addrs


def disc(addrs: list[str]) -> MultipleServersDiscovery:
    return MultipleServersDiscovery([KVPair(a) for a in addrs])


async def test_xclient_pool_hands_out_members_round_robin(server_factory) -> None:
    (addr,) = await servers(server_factory, 1)
    dials = Dials()
    async with XClientPool(3, "Arith", FailMode.FAILFAST, SelectMode.RANDOM, disc([addr])) as pool:
        assert len(pool) == 3
        members = pool.members
        # Go's order: index 1, 2, 0, 1, ...
        assert [pool.get() for _ in range(6)] == [members[1], members[2], members[0]] * 2
        pool.auth("tok")
        pool.add_plugin(dials)
        replies = await asyncio.gather(*(pool.get().call("Mul", Args(i, 2), Reply, timeout=WAIT) for i in range(30)))
        assert replies == [Reply(2 * i) for i in range(30)]
        # one connection per member to the one server: the pool spreads calls over three
        assert dials.keys == [addr] * 3
        assert [await m.call("Who", None, timeout=WAIT) for m in members] == [["s0", "tok"]] * 3
    for m in members:
        with pytest.raises(ClientClosedError):
            await m.call("Mul", Args(1, 1), Reply)
    with pytest.raises(ValueError):
        XClientPool(0, "Arith", discovery=disc([addr]))


async def test_one_client_calls_many_services(server_factory) -> None:
    addrs = await servers(server_factory, 2)
    d = disc(addrs)
    async with OneClient(FailMode.FAILOVER, SelectMode.ROUND_ROBIN, d) as oc:
        oc.auth("t1")
        assert await oc.call("Arith", "Mul", Args(6, 7), Reply, timeout=WAIT) == Reply(42)
        assert await oc.call("Greeter", "Hello", "py", timeout=WAIT) == "hello py"
        assert sorted(oc.service_paths) == ["Arith", "Greeter"]
        # an XClient per path, each over its own clone of the discovery
        arith, greeter = oc.xclient("Arith"), oc.xclient("Greeter")
        assert arith.service_path == "Arith" and greeter.service_path == "Greeter"
        assert arith.discovery is not d and greeter.discovery is not arith.discovery
        assert oc.xclient("Arith") is arith
        # settings made before a path's first call reach its XClient, and later ones reach them all
        assert (await oc.call("Arith", "Who", None, timeout=WAIT))[1] == "t1"
        oc.auth("t2")
        assert (await oc.call("Arith", "Who", None, timeout=WAIT))[1] == "t2"
        assert sorted(await oc.broadcast("Arith", "Who", None, timeout=WAIT)) in (["s0", "t2"], ["s1", "t2"])
        assert await oc.fork("Greeter", "Hello", "f", timeout=WAIT) == "hello f"
        receipts = await oc.inform("Arith", "Who", None, timeout=WAIT)
        assert sorted(r.reply[0] for r in receipts) == ["s0", "s1"]
        assert await oc.go("Arith", "Add", Args(1, 2), Reply, timeout=WAIT) == Reply(3)
        md: dict[str, str] = {}
        assert await oc.call("Arith", "Echo", b"e", bytes, metadata={"k": "v"}, response_metadata=md,
                             timeout=WAIT) == b"e"
        assert md == {"k": "v"}
        # send_raw goes to the message's own service path
        raw = Message(service_path="Greeter", service_method="Hello", serialize_type=SerializeType.JSON,
                      payload=b'"raw"')
        assert (await oc.send_raw(raw, timeout=WAIT)).payload == b'"hello raw"'
    with pytest.raises(ClientClosedError):
        await oc.call("Arith", "Mul", Args(1, 1), Reply)
    with pytest.raises(ClientClosedError):
        await arith.call("Mul", Args(1, 1), Reply)


async def test_one_client_selector_geo_and_plugins_per_path(server_factory) -> None:
    addrs = await servers(server_factory, 2)

    class Always:
        def __init__(self, key: str) -> None:
            self.key = key

        def select(self, call) -> str:
            return self.key

        def update_server(self, servers) -> None:
            pass

    dials = Dials()
    async with OneClient(FailMode.FAILFAST, SelectMode.RANDOM, disc(addrs)) as oc:
        oc.add_plugin(dials)
        oc.set_selector("Arith", Always(addrs[1]))
        assert {(await oc.call("Arith", "Who", None, timeout=WAIT))[0] for _ in range(5)} == {"s1"}
        oc.set_selector("Arith", Always(addrs[0]))
        assert (await oc.call("Arith", "Who", None, timeout=WAIT))[0] == "s0"
        await oc.call("Greeter", "Hello", "x", timeout=WAIT)
        # the plugin was given to both paths' XClients: each dialled its own connections
        assert len(dials.keys) == 3
        oc.config_geo_selector(1.0, 2.0)
        assert oc.xclient("Greeter").select_mode == SelectMode.CLOSEST


async def test_one_client_pool(server_factory) -> None:
    (addr,) = await servers(server_factory, 1)
    async with OneClientPool(2, FailMode.FAILTRY, SelectMode.RANDOM, disc([addr])) as pool:
        pool.auth("p")
        a, b = pool.get(), pool.get()
        assert a is not b and pool.get() is a
        assert await a.call("Arith", "Who", None, timeout=WAIT) == ["s0", "p"]
        assert await b.call("Greeter", "Hello", "b", timeout=WAIT) == "hello b"


async def test_bidirectional_xclient_receives_pushes_from_every_server(server_factory) -> None:
    addrs = await servers(server_factory, 2)
    got: asyncio.Queue[Message] = asyncio.Queue()
    async with XClientPool(1, "Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, disc(addrs),
                           on_push=got.put_nowait) as pool:
        xc = pool.get()
        # arith_service's Echo pushes Arith.Push back on the calling connection when asked
        receipts = await xc.inform("Echo", b"ping", bytes, metadata={"push": "p"}, timeout=WAIT)
        assert [r.reply for r in receipts] == [b"ping", b"ping"]
        pushes = [await asyncio.wait_for(got.get(), WAIT) for _ in range(2)]
    for push in pushes:
        assert (push.service_path, push.service_method, push.metadata) == ("Arith", "Push", {"push": "p"})
        assert push.oneway and not push.is_response
    # one push over each server's connection
    assert got.empty()


async def test_one_client_passes_on_push_to_every_path(server_factory) -> None:
    (addr,) = await servers(server_factory, 1)
    got: asyncio.Queue[Message] = asyncio.Queue()
    async with OneClient(FailMode.FAILFAST, SelectMode.RANDOM, disc([addr]), on_push=got.put_nowait) as oc:
        assert await oc.call("Arith", "Echo", b"x", bytes, metadata={"push": "one"}, timeout=WAIT) == b"x"
        push = await asyncio.wait_for(got.get(), WAIT)
    assert push.metadata == {"push": "one"}
