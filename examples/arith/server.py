"""Serve Arith: ``python examples/arith/server.py tcp@127.0.0.1:8972 [--codec ...] [--cert F --key F] [--auth T]``.

Prints ``serving <address>`` once it accepts calls; SIGINT/SIGTERM finish calls in flight, then exit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arith import Arith  # noqa: E402

from rpcx import Server  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("address", help="network@host:port, e.g. tcp@127.0.0.1:8972 or unix@./arith.sock")
    p.add_argument("--codec", default="msgpack", help="accepted for symmetry with the client; the server speaks every codec")
    p.add_argument("--cert", help="TLS certificate (PEM)")
    p.add_argument("--key", help="TLS private key (PEM)")
    p.add_argument("--auth", help="require this __AUTH token")
    p.add_argument("--verbose", "-v", action="store_true")
    return p.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if opts.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tls = None
    if opts.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(opts.cert, opts.key)

    auth = None
    if opts.auth is not None:
        def auth(ctx: object, token: str) -> None:
            if token != opts.auth:
                raise PermissionError("invalid token")

    server = Server(tls=tls, auth=auth)
    server.register_name("Arith", Arith())
    address = await server.start(opts.address)
    print(f"serving {address}", flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.shutdown(timeout=10)
    return 0


if __name__ == "__main__":
    try:
        import uvloop  # optional: faster event loop
    except ImportError:
        sys.exit(asyncio.run(main()))
    else:
        sys.exit(uvloop.run(main()))
