"""Command line (layer: tools): call a service, ping a server, decode a captured frame.

    rpcx call tcp@127.0.0.1:8972 Arith.Mul '{"A": 10, "B": 20}'        # JSON in, JSON out
    rpcx call tcp@127.0.0.1:8972 Arith.Mul '{"A": 10, "B": 20}' --codec msgpack --meta k=v
    rpcx call tcp@127.0.0.1:8972 Arith.Echo aGVsbG8= --codec raw        # bytes in and out as base64
    rpcx ping tcp@127.0.0.1:8972 --count 3                             # heartbeat round trips
    rpcx decode 0800003000000000...                                     # explain a frame in hex

One text form for everything it prints: the reply as JSON, with bytes as base64 strings (as Go's
``encoding/json`` writes ``[]byte``) and times as RFC 3339 in every codec; response metadata as a
JSON object; durations as people read them (``500 ms``, ``1.5 s``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from .client import Client, Option
from .codec import CodecRegistry
from .codec._convert import format_rfc3339
from .errors import CallTimeoutError, RpcxError
from .protocol import FrameDecoder, Limits

__all__ = ["main", "human_duration", "to_json"]


def human_duration(seconds: float) -> str:
    """A duration as people read it: three significant digits and a unit.

    >>> human_duration(0.49999423100007334), human_duration(1.5), human_duration(0.0000123)
    ('500 ms', '1.5 s', '12.3 µs')
    """
    s = abs(seconds)
    for limit, scale, unit in ((1e-6, 1e9, "ns"), (1e-3, 1e6, "µs"), (1.0, 1e3, "ms")):
        if s < limit:
            return f"{seconds * scale:.3g} {unit}"
    if s < 120:
        return f"{seconds:.3g} s"
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    sign = "-" if seconds < 0 else ""
    return f"{sign}{h}h{m:02d}m{sec:02d}s" if h else f"{sign}{m}m{sec:02d}s"


def _json_default(o: Any) -> Any:
    if isinstance(o, (bytes, bytearray, memoryview)):
        return base64.b64encode(o).decode()
    if isinstance(o, datetime):
        return format_rfc3339(o)
    if isinstance(o, timedelta):
        return human_duration(o.total_seconds())
    return str(o)


def to_json(value: Any) -> str:
    """The CLI's one text form: JSON, bytes as base64, times as RFC 3339, keys as given.

    >>> to_json({"Image": b"hi", "Tags": None})
    '{"Image": "aGk=", "Tags": null}'
    """
    return json.dumps(_go_numbers(value), ensure_ascii=False, default=_json_default)


def _go_numbers(v: Any) -> Any:
    # Go's encoding/json writes an integral float without a fraction; do the same in every codec
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return int(v)
    if isinstance(v, dict):
        return {k: _go_numbers(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_go_numbers(x) for x in v]
    return v


def _meta(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            raise SystemExit(f"--meta takes key=value, got {p!r}")
        out[k] = v
    return out


def _args(text: str, ser: int) -> Any:
    if ser == 0:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SystemExit(f"with --codec raw the arguments are base64 (as Go's JSON writes []byte), got {text!r}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SystemExit(f"the arguments are JSON: {exc}") from None


async def _call(a: argparse.Namespace) -> int:
    path, dot, method = a.target.rpartition(".")
    if not dot:
        raise SystemExit("the target is Service.Method, e.g. Arith.Mul")
    ser = CodecRegistry.resolve(a.codec)
    args = _args(a.args, ser)
    async with await Client.connect(a.address, Option(serialize_type=ser, connect_timeout=a.timeout)) as c:
        res_md: dict[str, str] = {}
        try:
            reply = await c.call(path, method, args, metadata=_meta(a.meta or []), response_metadata=res_md, timeout=a.timeout)
        except CallTimeoutError:
            raise CallTimeoutError(f"{a.target} at {a.address} did not answer within {human_duration(a.timeout)}") from None
    print(to_json(reply))
    if res_md:
        print(f"metadata: {to_json(res_md)}", file=sys.stderr)
    return 0


async def _ping(a: argparse.Namespace) -> int:
    async with await Client.connect(a.address, Option(connect_timeout=a.timeout)) as c:
        for i in range(a.count):
            try:
                rtt = await c.heartbeat(timeout=a.timeout)
            except CallTimeoutError:
                raise CallTimeoutError(f"heartbeat {i + 1} not answered within {human_duration(a.timeout)}") from None
            print(f"heartbeat {i + 1}: {human_duration(rtt)}")
    return 0


def _decode(a: argparse.Namespace) -> int:
    data = bytes.fromhex("".join(a.hex.split()))
    for msg in FrameDecoder(Limits(0, 0)).feed(data):
        print(repr(msg))
        print(f"  payload: {msg.payload[:256]!r}{'...' if len(msg.payload) > 256 else ''}")
    return 0


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, and descriptions as written."""


def parser() -> argparse.ArgumentParser:
    """The ``rpcx`` argument parser (``rpcx --help``, ``rpcx call --help``, ...)."""
    p = argparse.ArgumentParser(prog="rpcx", description="rpcx for Python: a command line client.\n\n" + (__doc__ or "").split("\n\n")[1],
                                formatter_class=_Help)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{call,ping,decode}")
    c = sub.add_parser("call", help="call Service.Method and print the reply as JSON", formatter_class=_Help,
                       description="Call Service.Method and print the reply as JSON (bytes as base64).")
    c.add_argument("address", help="server address, e.g. tcp@127.0.0.1:8972 or unix@/tmp/rpcx.sock")
    c.add_argument("target", help="Service.Method, e.g. Arith.Mul")
    c.add_argument("args", nargs="?", default="{}",
                   help='the arguments: JSON, e.g. \'{"A": 10, "B": 20}\'; with --codec raw base64 bytes, e.g. aGVsbG8=')
    c.add_argument("--codec", default="json", choices=["json", "msgpack", "raw"],
                   help="serialize type of the request, e.g. --codec msgpack (Go's default)")
    c.add_argument("--meta", action="append", metavar="KEY=VALUE",
                   help="request metadata, repeatable, e.g. --meta k=v --meta trace=1 (default: none)")
    c.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="connect and call timeout in seconds, e.g. --timeout 0.5")
    g = sub.add_parser("ping", help="send heartbeats and print round-trip times", formatter_class=_Help,
                       description="Send heartbeats and print each round-trip time.")
    g.add_argument("address", help="server address, e.g. tcp@127.0.0.1:8972")
    g.add_argument("--count", type=int, default=3, help="how many heartbeats, e.g. --count 10")
    g.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="connect and per-heartbeat timeout in seconds, e.g. --timeout 1")
    d = sub.add_parser("decode", help="decode rpcx frames given in hex", formatter_class=_Help,
                       description="Decode rpcx frames given in hex (whitespace ignored).")
    d.add_argument("hex", help="frame bytes in hex, e.g. 0800003000000000...")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error)."""
    a = parser().parse_args(argv)
    try:
        if a.cmd == "decode":
            return _decode(a)
        return asyncio.run(_call(a) if a.cmd == "call" else _ping(a))
    except (RpcxError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
