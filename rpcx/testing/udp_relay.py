"""A lossy UDP relay for tests: forwards datagrams between clients and one server, dropping a
fraction of them (layer: testing).

Rule: the loss happens in the test's own datagram path, on loopback, with a seeded random
generator, so a test of FEC and retransmission needs no network namespace or root. Each client
address gets its own upstream socket, so the server sees one peer per client, as without the relay.

>>> import asyncio
>>> async def demo():
...     relay = await LossyRelay.start(("127.0.0.1", 9), loss=0.1)
...     host, port = relay.address
...     relay.close()
...     return host
>>> asyncio.run(demo())
'127.0.0.1'
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

__all__ = ["LossyRelay"]


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: "LossyRelay", client: Any) -> None:
        self.relay = relay
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:  # server -> client
        self.relay._forward(data, self.client, None)

    def error_received(self, exc: Exception) -> None:
        pass


class LossyRelay(asyncio.DatagramProtocol):
    """Listen on ``address``; datagrams go to ``server`` and back, each dropped with probability
    ``loss`` (both directions). ``forwarded`` and ``dropped`` count them."""

    def __init__(self, server: tuple[str, int], loss: float, seed: int) -> None:
        self.server = server
        self.loss = loss
        self._rng = random.Random(seed)
        self._upstreams: dict[Any, _Upstream] = {}
        self._pending: dict[Any, list[bytes]] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.forwarded = 0
        self.dropped = 0

    @classmethod
    async def start(cls, server: tuple[str, int], loss: float = 0.1, seed: int = 1) -> "LossyRelay":
        loop = asyncio.get_running_loop()
        _, relay = await loop.create_datagram_endpoint(lambda: cls(server, loss, seed), local_addr=("127.0.0.1", 0))
        return relay

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:  # client -> server
        up = self._upstreams.get(addr)
        if up is None:
            up = self._upstreams[addr] = _Upstream(self, addr)
            self._pending[addr] = [data]
            asyncio.get_running_loop().create_task(self._open(up))
            return
        if up.transport is None:
            self._pending[addr].append(data)
            return
        self._forward(data, self.server, up.transport)

    async def _open(self, up: _Upstream) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: up, remote_addr=self.server)
        for data in self._pending.pop(up.client, []):
            self._forward(data, self.server, up.transport)

    def _forward(self, data: bytes, to: Any, via: asyncio.DatagramTransport | None) -> None:
        if self._rng.random() < self.loss:
            self.dropped += 1
            return
        self.forwarded += 1
        if via is not None:
            via.sendto(data)
        elif self.transport is not None:
            self.transport.sendto(data, to)

    def close(self) -> None:
        for up in self._upstreams.values():
            if up.transport is not None:
                up.transport.close()
        if self.transport is not None:
            self.transport.close()
