"""Shared fixtures for behaviour tests on real loopback sockets.

* ``server_factory``: start :class:`rpcx.Server` instances with any options (Arith registered by
  default); every one is closed at teardown.
* ``server``: one running Arith server on ``tcp@127.0.0.1:0``; yields its address.
* ``raw``: open raw asyncio-stream peers (:class:`RawPeer`) that speak frames by hand, for
  byte-level and hostile checks.
* ``threaded_server``: an Arith server running on its own event loop in a thread, for tests of the
  blocking facades written as plain sync functions.
* ``delay_relay``: a TCP relay that delays every chunk both ways (:class:`DelayRelay`), a slow link
  in front of a real server.

Set ``RPCX_TEST_LOOP=uvloop`` to run the async tests on uvloop.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from arith_service import Arith  # noqa: E402

from rpcx import Server  # noqa: E402
from rpcx.errors import ProtocolError  # noqa: E402
from rpcx.protocol import FrameDecoder, Limits, Message, encode  # noqa: E402
from rpcx.transport.tcp import split_host_port  # noqa: E402

#: generous bound for "this must happen": a hang check on a loaded 2-core machine, not a speed check
WAIT = 10.0


class RawPeer:
    """A hand-driven connection: write frames or any bytes, read frames back, notice EOF."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(Limits(0, 0))
        self.frames: list[Message] = []
        self.eof = False

    @classmethod
    async def open(cls, address: str, **kwargs: Any) -> "RawPeer":
        network, _, addr = address.partition("@")
        if network == "unix":
            reader, writer = await asyncio.open_unix_connection(addr, **kwargs)
        else:
            host, port = split_host_port(addr)
            reader, writer = await asyncio.open_connection(host, port, **kwargs)
        return cls(reader, writer)

    async def send(self, data: Message | bytes) -> None:
        self.writer.write(encode(data) if isinstance(data, Message) else data)
        await self.writer.drain()

    async def _fill(self) -> None:
        data = await self.reader.read(65536)
        if not data:
            self.eof = True
            return
        self.frames.extend(self.decoder.feed(data))

    async def recv(self, timeout: float = WAIT) -> Message | None:
        """The next frame, or None when the server closed the connection first."""
        async with asyncio.timeout(timeout):
            while not self.frames:
                if self.eof:
                    return None
                try:
                    await self._fill()
                except (ConnectionError, ProtocolError):
                    self.eof = True
        return self.frames.pop(0)

    async def expect_silence(self, wait: float) -> None:
        """Assert that nothing at all arrives for ``wait`` seconds (and the connection stays open)."""
        try:
            async with asyncio.timeout(wait):
                await self._fill()
        except TimeoutError:
            assert not self.frames
            return
        raise AssertionError(f"expected silence, got frames={self.frames!r} eof={self.eof}")

    async def wait_closed_by_server(self, timeout: float = WAIT) -> list[Message]:
        """Read until EOF (or reset) within ``timeout``; return the frames received on the way."""
        async with asyncio.timeout(timeout):
            while not self.eof:
                try:
                    await self._fill()
                except (ConnectionError, ProtocolError):
                    self.eof = True
        frames, self.frames = self.frames, []
        return frames

    async def aclose(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def dead_address() -> str:
    """An rpcx key on loopback where nothing listens: connections to it are refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp@127.0.0.1:{port}"


ServerFactory = Callable[..., Awaitable[tuple[Server, str]]]


if os.environ.get("RPCX_TEST_LOOP") == "uvloop":
    # run the async tests on uvloop (the ``speed`` extra) instead of asyncio's own loop

    def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
        import uvloop

        return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
async def server_factory() -> AsyncIterator[ServerFactory]:
    """``await server_factory(address=..., register=True, **server_options) -> (server, address)``."""
    servers: list[Server] = []

    async def make(*, address: str = "tcp@127.0.0.1:0", register: bool = True, **options: Any) -> tuple[Server, str]:
        srv = Server(**options)
        if register:
            srv.register(Arith())
        bound = await srv.start(address)
        servers.append(srv)
        return srv, bound

    yield make
    for srv in servers:
        await srv.close()


@pytest.fixture
async def server(server_factory: ServerFactory) -> str:
    """A running Arith server on tcp@127.0.0.1:0; the value is its address."""
    _, address = await server_factory()
    return address


@pytest.fixture
async def raw() -> AsyncIterator[Callable[..., Awaitable[RawPeer]]]:
    peers: list[RawPeer] = []

    async def connect(address: str, **kwargs: Any) -> RawPeer:
        peer = await RawPeer.open(address, **kwargs)
        peers.append(peer)
        return peer

    yield connect
    for p in peers:
        await p.aclose()


@pytest.fixture
def threaded_server() -> Iterator[str]:
    """An Arith server on its own loop in a thread; for sync tests of the blocking facades."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-server-loop", daemon=True)
    thread.start()
    srv = Server()
    srv.register(Arith())
    address = asyncio.run_coroutine_threadsafe(srv.start("tcp@127.0.0.1:0"), loop).result(WAIT)
    try:
        yield address
    finally:
        asyncio.run_coroutine_threadsafe(srv.close(), loop).result(WAIT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
        loop.close()


class DelayRelay:
    """A TCP relay on loopback that holds every chunk ``delay`` seconds in each direction (a slow
    network link in front of a real server, order kept). ``delay`` may be changed at any time; it
    applies to chunks read from then on. ``address`` is the rpcx key to dial instead of ``upstream``."""

    def __init__(self, upstream: str, delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.address = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> "DelayRelay":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.address = "tcp@127.0.0.1:%d" % self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.upstream.split("@", 1)[1].rsplit(":", 1)
        try:
            up_r, up_w = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        for r, w in ((reader, up_w), (up_r, writer)):
            t = asyncio.ensure_future(self._pump(r, w))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(due - loop.time(), 0))
                writer.write(data)
        sender = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + self.delay, data))
        except OSError:
            pass
        finally:
            queue.put_nowait((0.0, b""))
            try:
                await sender
            except OSError:
                pass
            writer.close()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def delay_relay() -> AsyncIterator[Callable[[str, float], Awaitable[DelayRelay]]]:
    """``await delay_relay(upstream_key, delay_seconds) -> DelayRelay`` (closed after the test)."""
    relays: list[DelayRelay] = []

    async def make(upstream: str, delay: float) -> DelayRelay:
        relay = await DelayRelay(upstream, delay).start()
        relays.append(relay)
        return relay

    yield make
    for r in relays:
        await r.aclose()


_GO_BIN: list[str] = []


def go_peers_bin() -> str:
    """The directory of the Go interop peers (tests/interop/build.sh, against the real rpcx v1.9.4),
    built on first use (cheap with Go's build cache warm); for tests outside tests/interop that put a
    Go server in the mix."""
    if not _GO_BIN:
        import shutil
        import subprocess

        if shutil.which("go") is None:
            pytest.fail("Go is not installed: the Go rpcx peers cannot be built (install Go 1.26+)")
        script = os.path.join(os.path.dirname(__file__), "interop", "build.sh")
        out = subprocess.run(["sh", script], capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            pytest.fail(f"building the Go interop peers failed:\n{out.stderr}")
        _GO_BIN.append(out.stdout.strip().splitlines()[-1])
    return _GO_BIN[0]


async def start_server_process(kind: str, address: str = "tcp@127.0.0.1:0") -> tuple[asyncio.subprocess.Process, str]:
    """Start an Arith server process: ``kind`` "python" (examples/arith/server.py) or "go" (the Go
    rpcx goserver peer). Returns the process (stop it by PID) and the address it serves."""
    if kind == "go":
        cmd = [os.path.join(go_peers_bin(), "goserver"), address]
    else:
        example = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "arith", "server.py")
        cmd = [sys.executable, example, address]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), WAIT)).decode()
    assert line.startswith("serving "), f"{kind} server did not start: {line!r}"
    return proc, line.split()[1]
