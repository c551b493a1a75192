"""The blocking facades, used from plain synchronous test functions."""

from __future__ import annotations

import pytest
from arith_service import FAIL_TEXT, Args, Reply

from rpcx import BlockingClient, BlockingXClient, CallTimeoutError, FailMode, Peer2PeerDiscovery, SelectMode, ServiceError


def test_blocking_xclient(threaded_server: str) -> None:
    with BlockingXClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery(threaded_server)) as xc:
        assert xc.call("Mul", Args(10, 20), Reply) == Reply(200)
        assert xc.call("Add", {"A": 1, "B": 2}) == {"C": 3}
        with pytest.raises(ServiceError, match=FAIL_TEXT):
            xc.call("Fail", Args(), Reply)
        md: dict[str, str] = {}
        assert xc.call("Mul", Args(2, 2), Reply, timeout=5.0, response_metadata=md) == Reply(4)
        xc.oneshot("Mul", Args(1, 1))
        assert xc.broadcast("Mul", Args(3, 3), Reply) == Reply(9)
        assert xc.fork("Mul", Args(3, 4), Reply) == Reply(12)
        (receipt,) = xc.inform("Fail", Args(), Reply)
        assert receipt.address == threaded_server.split("@", 1)[1] and isinstance(receipt.error, ServiceError)
        md = {}
        assert xc.broadcast("Echo", b"x", bytes, metadata={"k": "b"}, response_metadata=md) == b"x"
        assert md == {"k": "b"}
        xc.auth("anything")
        assert xc.call("Mul", Args(5, 5), Reply) == Reply(25)


def test_blocking_client(threaded_server: str) -> None:
    with BlockingClient(threaded_server) as c:
        assert c.call("Arith", "Mul", Args(6, 7), Reply) == Reply(42)
        md: dict[str, str] = {}
        assert c.call("Arith", "Echo", b"raw", bytes, serialize_type=0, metadata={"k": "v"}, response_metadata=md) == b"raw"
        assert md == {"k": "v"}
        c.oneway("Arith", "Add", Args(1, 1))
        with pytest.raises(ServiceError, match="can't find method Nope"):
            c.call("Arith", "Nope", Args(), Reply)
        assert c.call("Arith", "Add", Args(6, 7), Reply, timeout=5.0) == Reply(13)


def test_blocking_many_clients_share_the_loop(threaded_server: str) -> None:
    clients = [BlockingClient(threaded_server) for _ in range(5)]
    try:
        for i, c in enumerate(clients):
            assert c.call("Arith", "Mul", Args(i, i), Reply) == Reply(i * i)
    finally:
        for c in clients:
            c.close()


def test_blocking_call_timeout(threaded_server: str) -> None:
    from rpcx.client.blocking import run

    with BlockingClient(threaded_server) as c:
        # a timeout far shorter than any round trip still gives the right error type
        with pytest.raises(CallTimeoutError):
            c.call("Arith", "Mul", Args(1, 1), Reply, timeout=1e-9)
        assert c.call("Arith", "Mul", Args(2, 1), Reply) == Reply(2)
    assert run(_answer()) == 42


async def _answer() -> int:
    return 42
