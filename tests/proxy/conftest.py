"""Fixtures for the proxy tests: a proxy built from a config dict, a recording observer, and a raw
upstream that answers every request with its own frame (Response bit set), byte for byte."""

from __future__ import annotations

import asyncio
import random
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from rpcx.protocol import FrameDecoder, Limits
from rpcx.proxy import CallRecord, ProxyServer, build_proxy, parse_config


class Recorder:
    """An observer keeping every finished call's record."""

    wants_metadata = True

    def __init__(self) -> None:
        self.records: list[CallRecord] = []
        self.changed = asyncio.Event()

    def call_finished(self, record: CallRecord) -> None:
        self.records.append(record)
        self.changed.set()

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[CallRecord]:
        async with asyncio.timeout(timeout):
            while len(self.records) < n:
                self.changed.clear()
                await self.changed.wait()
        return self.records


class EchoUpstream:
    """A raw rpcx server: answers each request with the same frame plus the Response bit (so the
    client sees exactly what reached the upstream), records every frame, and can hold replies."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.connections = 0
        self.hold = False
        self.held: list[tuple[asyncio.Transport, bytes]] = []
        self.transports: list[asyncio.Transport] = []
        self.arrived = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None
        self.address = ""

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _EchoProto(self), "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"tcp@127.0.0.1:{port}"
        return self.address

    def pause_reading(self) -> None:
        for t in self.transports:
            t.pause_reading()

    def resume_reading(self) -> None:
        for t in self.transports:
            t.resume_reading()

    def abort_all(self) -> None:
        for t in self.transports:
            t.abort()

    async def aclose(self) -> None:
        self.abort_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class _EchoProto(asyncio.Protocol):
    def __init__(self, owner: EchoUpstream) -> None:
        self.owner = owner
        self.decoder = FrameDecoder(Limits(0, 0))

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.owner.connections += 1
        self.owner.transports.append(transport)

    def data_received(self, data: bytes) -> None:
        for frame in self.decoder.feed_frames(data):
            self.owner.frames.append(frame)
            self.owner.arrived.set()
            if frame[2] & 0x20:  # oneway: no reply
                continue
            reply = frame[:2] + bytes((frame[2] | 0x80,)) + frame[3:]
            if self.owner.hold:
                self.owner.held.append((self.transport, reply))
            else:
                self.transport.write(reply)


ProxyFactory = Callable[..., Awaitable[tuple[ProxyServer, str]]]


@pytest.fixture
async def proxy_factory() -> AsyncIterator[ProxyFactory]:
    """``await proxy_factory(config_dict, seed=1, observers=[...]) -> (proxy, address)``; the
    config's ``listen`` defaults to tcp@127.0.0.1:0."""
    proxies: list[ProxyServer] = []

    async def make(doc: dict[str, Any], *, seed: int = 1, observers: list[Any] = ()) -> tuple[ProxyServer, str]:
        doc = {"listen": "tcp@127.0.0.1:0", **doc}
        cfg = parse_config(doc)
        proxy = await build_proxy(cfg, rng=random.Random(seed), observers=list(observers))
        proxies.append(proxy)
        return proxy, await proxy.start(cfg.listen[0])

    yield make
    for p in proxies:
        await p.aclose()


@pytest.fixture
async def echo_upstream() -> AsyncIterator[EchoUpstream]:
    up = EchoUpstream()
    await up.start()
    yield up
    await up.aclose()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throw-away self-signed certificate for 127.0.0.1/localhost: (cert, key)."""
    from rpcx.testing.harness import self_signed_cert

    return self_signed_cert(str(tmp_path_factory.mktemp("proxy-tls")))
