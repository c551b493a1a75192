"""Registering services and functions: names, renames, whitelists, and Go's registration errors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from arith_service import Args, Arith, Reply

from rpcx import Client, Context, Server, ServiceError, rpc_method
from rpcx.errors import RegistrationError


def names(server: Server, service: str) -> set[str]:
    return set(server.services[service].methods)


def test_register_uses_class_name_with_snake_and_camel_names() -> None:
    s = Server()
    s.register(Arith())
    assert list(s.services) == ["Arith"]
    assert names(s, "Arith") == {"mul", "Mul", "add", "Add", "fail", "Fail", "echo", "Echo"}
    # both spellings lead to the same method
    m = s.services["Arith"].methods
    assert m["mul"] is m["Mul"]


def test_register_name_and_name_keyword() -> None:
    s = Server()
    s.register_name("Calc", Arith())
    s.register(Arith(), name="Calc2")
    assert set(s.services) == {"Calc", "Calc2"}
    assert "Mul" in names(s, "Calc") and "Mul" in names(s, "Calc2")


def test_register_function_snake_and_camel() -> None:
    def get_user_id(args: dict) -> dict:
        return {"id": 1}

    async def ping() -> str:
        return "pong"

    s = Server()
    s.register_function("Funcs", get_user_id)
    s.register_function("Funcs", ping, name="Ping2")
    assert names(s, "Funcs") == {"get_user_id", "GetUserId", "Ping2"}
    assert s.services["Funcs"].methods["Ping2"].is_async


def test_rpc_method_rename_replaces_both_default_names() -> None:
    class Svc:
        @rpc_method("Times")
        def multiply(self, args: Args) -> Reply:
            return Reply(args.A * args.B)

        def plain(self) -> int:
            return 1

    s = Server()
    s.register(Svc())
    assert names(s, "Svc") == {"Times", "plain", "Plain"}


def test_methods_whitelist() -> None:
    s = Server()
    s.register(Arith(), methods=["mul"])
    assert names(s, "Arith") == {"mul", "Mul"}
    s2 = Server()
    s2.register(Arith(), methods=["Add"])  # the Go spelling works too
    assert names(s2, "Arith") == {"add", "Add"}


@pytest.mark.parametrize(
    ("methods", "text"),
    [([], "the method list is empty"), (["mul", "nope"], "method 'nope' not found on Arith")],
)
def test_methods_whitelist_errors_register_nothing(methods: list[str], text: str) -> None:
    s = Server()
    with pytest.raises(RegistrationError, match=text):
        s.register(Arith(), methods=methods)
    assert s.services == {}


def test_no_suitable_methods_is_go_error() -> None:
    class Empty:
        def _private(self, args: Args) -> Reply:
            return Reply()

        x = property(lambda self: 1)

    s = Server()
    with pytest.raises(RegistrationError, match=r"^rpcx\.Register: type Empty has no exported methods of suitable type$"):
        s.register(Empty())
    assert s.services == {}


def test_unsuitable_method_is_skipped_unless_whitelisted() -> None:
    """Go skips methods that do not qualify (with a log line) and registers the rest."""

    class Mixed:
        def mul(self, args: Args) -> Reply:
            return Reply(args.A * args.B)

        def helper(self, a: int, b: int) -> int:  # two arguments: not an RPC method
            return a + b

    s = Server()
    s.register(Mixed())
    assert names(s, "Mixed") == {"mul", "Mul"}
    s2 = Server()
    with pytest.raises(RegistrationError, match="not a suitable RPC method"):
        s2.register(Mixed(), methods=["helper"])
    assert s2.services == {}


def test_no_service_name() -> None:
    with pytest.raises(RegistrationError, match="no service name"):
        Server().register_name("", Arith())


def test_register_plugin_error_is_returned() -> None:
    class Refuse:
        def register(self, name: str, obj: object, metadata: str) -> None:
            raise RuntimeError(f"registry refuses {name} ({metadata})")

    s = Server()
    s.add_plugin(Refuse())
    with pytest.raises(RegistrationError, match=r"registry refuses Arith \(group=a\)"):
        s.register(Arith(), "group=a")


async def test_registered_names_are_callable_over_the_wire(server_factory) -> None:
    class Svc:
        @rpc_method("Times")
        def multiply(self, args: Args) -> Reply:
            return Reply(args.A * args.B)

        def get_sum(self, ctx: Context, args: Args) -> Reply:
            return Reply(args.A + args.B)

    def negate(args: Args) -> Reply:
        return Reply(-args.A)

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    srv.register_function("Svc", negate)
    async with await Client.connect(addr) as c:
        assert await c.call("Svc", "Times", Args(6, 7), Reply) == Reply(42)
        assert await c.call("Svc", "GetSum", Args(6, 7), Reply) == Reply(13)
        assert await c.call("Svc", "get_sum", Args(1, 1), Reply) == Reply(2)
        assert await c.call("Svc", "Negate", Args(5), Reply) == Reply(-5)
        with pytest.raises(ServiceError, match="^rpcx: can't find method multiply$"):
            await c.call("Svc", "multiply", Args(1, 1), Reply)


@dataclass
class Point:
    X: int = 0
    Y: int = 0


async def test_method_without_args_and_dict_args(server_factory) -> None:
    class Svc:
        def now(self) -> Point:
            return Point(1, 2)

        def swap(self, p: Point) -> Point:
            return Point(p.Y, p.X)

        def keys(self, d: dict) -> list:
            return sorted(d)

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    async with await Client.connect(addr) as c:
        assert await c.call("Svc", "Now", None, Point) == Point(1, 2)
        assert await c.call("Svc", "Swap", Point(3, 4), Point) == Point(4, 3)
        assert await c.call("Svc", "Keys", {"b": 1, "a": 2}) == ["a", "b"]
