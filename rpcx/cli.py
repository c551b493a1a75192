"""Command line: call a service, ping a server, decode a captured frame.

    rpcx call tcp@127.0.0.1:8972 Arith.Mul '{"A": 10, "B": 20}'        # JSON in, JSON out
    rpcx call tcp@127.0.0.1:8972 Arith.Mul '{"A": 10, "B": 20}' --codec msgpack --meta k=v
    rpcx ping tcp@127.0.0.1:8972 --count 3                             # heartbeat round trips
    rpcx decode 0800003000000000...                                     # explain a frame in hex
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from .client import Client, Option
from .codec import CodecRegistry
from .errors import RpcxError
from .protocol import FrameDecoder, Limits


def _meta(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            raise SystemExit(f"--meta takes key=value, got {p!r}")
        out[k] = v
    return out


async def _call(a: argparse.Namespace) -> int:
    path, dot, method = a.target.rpartition(".")
    if not dot:
        raise SystemExit("the target is Service.Method, e.g. Arith.Mul")
    ser = CodecRegistry.resolve(a.codec)
    args: Any = a.args.encode() if ser == 0 else json.loads(a.args)
    async with await Client.connect(a.address, Option(serialize_type=ser, connect_timeout=a.timeout)) as c:
        res_md: dict[str, str] = {}
        reply = await c.call(path, method, args, metadata=_meta(a.meta), response_metadata=res_md, timeout=a.timeout)
    if isinstance(reply, bytes):
        sys.stdout.buffer.write(reply + b"\n")
    else:
        print(json.dumps(reply, default=lambda o: o.hex() if isinstance(o, bytes) else str(o)))
    if res_md:
        print(f"metadata: {res_md}", file=sys.stderr)
    return 0


async def _ping(a: argparse.Namespace) -> int:
    async with await Client.connect(a.address, Option(connect_timeout=a.timeout)) as c:
        for i in range(a.count):
            rtt = await c.heartbeat(timeout=a.timeout)
            print(f"heartbeat {i + 1}: {rtt * 1e6:.0f} µs")
    return 0


def _decode(a: argparse.Namespace) -> int:
    data = bytes.fromhex("".join(a.hex.split()))
    for msg in FrameDecoder(Limits(0, 0)).feed(data):
        print(repr(msg))
        print(f"  payload: {msg.payload[:256]!r}{'...' if len(msg.payload) > 256 else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rpcx", description="rpcx for Python: a command line client")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("call", help="call Service.Method with JSON arguments")
    c.add_argument("address")
    c.add_argument("target", help="Service.Method")
    c.add_argument("args", nargs="?", default="{}", help="arguments as JSON (raw text with --codec raw)")
    c.add_argument("--codec", default="json", choices=["json", "msgpack", "raw"])
    c.add_argument("--meta", action="append", default=[], help="request metadata key=value (repeatable)")
    c.add_argument("--timeout", type=float, default=5.0)
    g = sub.add_parser("ping", help="send heartbeats and print round-trip times")
    g.add_argument("address")
    g.add_argument("--count", type=int, default=3)
    g.add_argument("--timeout", type=float, default=5.0)
    d = sub.add_parser("decode", help="decode rpcx frames given in hex")
    d.add_argument("hex")
    a = p.parse_args(argv)
    try:
        if a.cmd == "decode":
            return _decode(a)
        return asyncio.run(_call(a) if a.cmd == "call" else _ping(a))
    except (RpcxError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
