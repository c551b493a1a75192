"""The "raw asyncio" baseline: a length-prefixed echo server, no RPC framework at all.

    .venv/bin/python bench/asyncio_echo.py [ADDRESS]       (default 127.0.0.1:0)

Frames are a 4-byte big-endian length and that many bytes; each complete frame is written back
unchanged (whole frames from one read in one write). The Go load client's ``-proto echo`` mode
sends the 581-byte BenchmarkMessage this way. It is the ceiling for any asyncio server on this
machine: rpcx framing, protobuf decoding and dispatch all come on top of it.
"""

from __future__ import annotations

import asyncio

import _common

_MAX = 1 << 20


class Echo(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos, n = 0, len(buf)
        while n - pos >= 4:
            size = int.from_bytes(buf[pos : pos + 4], "big")
            if size > _MAX:
                assert self.transport is not None
                self.transport.abort()
                return
            if n - pos - 4 < size:
                break
            pos += 4 + size
        if pos:
            assert self.transport is not None
            self.transport.write(bytes(buf[:pos]))
            del buf[:pos]


async def main(address: str) -> None:
    host, port = _common.split_address(address)
    server = await asyncio.get_running_loop().create_server(Echo, host, port)
    h, p = server.sockets[0].getsockname()[:2]
    _common.ready(f"serving {h}:{p} ({loop_name})")
    await server.serve_forever()


if __name__ == "__main__":
    loop_name = _common.install_uvloop()
    _common.run(main(_common.address_arg()))
