"""current_context() on the hot path when several event loops serve in several threads at once.

Each thread runs its own loop and server; the GIL may switch threads in the middle of a handler.
A handler must always see its own call's context, never another thread's, and never lose it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from rpcx import Client, Server, current_context


class Who:
    def __init__(self, name: str) -> None:
        self.name = name

    def ask(self, data: bytes) -> bytes:
        ctx = current_context()
        first = (ctx.metadata["call"], ctx.service_path)
        # long enough that the interpreter switches threads in the middle (switch interval 5 ms)
        total = 0
        for i in range(400_000):
            total += i
        ctx2 = current_context()
        assert ctx2 is ctx, "the context changed in the middle of a call"
        assert (ctx2.metadata["call"], ctx2.service_path) == first
        return f"{self.name}:{ctx.metadata['call']}".encode()


def _serve_and_call(name: str, calls: int, errors: list[BaseException], start: threading.Barrier) -> None:
    async def main() -> None:
        srv = Server()
        srv.register_name(name, Who(name))
        addr = await srv.start("tcp@127.0.0.1:0")
        try:
            async with await Client.connect(addr) as c:
                start.wait(10)
                for i in range(calls):
                    got = await c.call(name, "Ask", b"", metadata={"call": str(i)}, serialize_type=0, timeout=10)
                    assert got == f"{name}:{i}".encode(), got
        finally:
            await srv.close()

    try:
        asyncio.run(main())
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_handlers_in_several_threads_each_see_their_own_context() -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(3)
    threads = [
        threading.Thread(target=_serve_and_call, args=(name, 20, errors, start), name=f"server-{name}")
        for name in ("A", "B", "C")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
