"""The floor under any Python HTTP gateway here: a uvloop protocol that answers every read with one
canned ``200`` (the body ``{"C":56}`` the load client checks, or its JSON-RPC response), parsing nothing.

    .venv/bin/python bench/http_floor.py [ADDRESS]       (default 127.0.0.1:0)

Prints ``serving tcp@HOST:PORT``. bench/gateway.py drives it like the gateways (its load client
sends one request at a time per connection, so each read is one whole request): its CPU per call
is what the event loop and the kernel's socket work cost before any HTTP parsing, rpcx dispatch or
JSON; the gateway's own cost is what it measures above this. Not a server: it answers anything.
"""

from __future__ import annotations

import asyncio
import signal

import _common

def _answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s" % (
        len(body), body)


ANSWER = _answer(b'{"C":56}')
JSONRPC_ANSWER = _answer(b'{"jsonrpc":"2.0","result":{"C":56},"id":1}')


class Canned(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(JSONRPC_ANSWER if b'"jsonrpc"' in data else ANSWER)


async def main() -> None:
    host, port = _common.split_address(_common.address_arg())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Canned, host, port)
    _common.ready(f"serving tcp@{host}:{server.sockets[0].getsockname()[1]}")
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    _common.install_uvloop()
    _common.run(main())
