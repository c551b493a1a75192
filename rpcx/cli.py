"""Command line (layer: tools): serve objects, call a service, ping a server, decode a frame, run a gateway.

    rpcx serve tcp@127.0.0.1:8972 mypkg.arith:Arith                    # serve Arith() until Ctrl-C
    rpcx serve tcp@127.0.0.1:8972 mypkg.arith:Arith --gateway          # ... with HTTP invoke and JSON-RPC too
    rpcx gateway tcp@127.0.0.1:9981 --registry peer2peer://tcp@127.0.0.1:8972   # HTTP in front of rpcx
    rpcx call tcp@127.0.0.1:8972 Arith.Mul '{"A": 10, "B": 20}'        # JSON in, JSON out
    rpcx call tcp@127.0.0.1:8972 Arith.Mul '{"A": 10, "B": 20}' --codec msgpack --meta k=v
    rpcx call tcp@127.0.0.1:8972 Arith.Echo aGVsbG8= --codec raw        # bytes in and out as base64
    rpcx ping tcp@127.0.0.1:8972 --count 3                             # heartbeat round trips
    rpcx decode 0800003000000000...                                     # explain a frame in hex

One text form for everything it prints: the reply as JSON, with bytes as base64 strings (as Go's
``encoding/json`` writes ``[]byte``) and times as RFC 3339 in every codec; response metadata as a
JSON object; durations as people read them (``500 ms``, ``1.5 s``).

Errors are one line on stderr, without a traceback (:mod:`rpcx.oneline`): exit status 1 when the
command ran and failed (cannot listen, cannot reach the server, the call failed), 2 when the
command line is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import importlib
import json
import ssl
import sys
from datetime import datetime, timedelta
from typing import Any

from .client import Client, Option
from .codec import CodecRegistry
from .codec._convert import format_rfc3339
from .errors import CallTimeoutError, ProtocolError, RpcxError
from .oneline import EXIT_FAILED, EXIT_USAGE, Parser, fail, human_duration
from .protocol import FrameDecoder, Limits
from .transport import server_tls_context

__all__ = ["main", "human_duration", "to_json"]


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


class _Usage(Exception):
    """The command line is wrong (exit 2)."""


def _meta(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            raise _Usage(f"--meta takes key=value, got {p!r}")
        out[k] = v
    return out


def _args(text: str, ser: int) -> Any:
    if ser == 0:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _Usage(f"with --codec raw the arguments are base64 (as Go's JSON writes []byte), got {text!r}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _Usage(f"the arguments are JSON: {exc}") from None


def _check_call(a: argparse.Namespace) -> tuple[str, str, Any, dict[str, str]]:
    """The call's parts, checked before anything is dialled."""
    path, dot, method = a.target.rpartition(".")
    if not dot or not path or not method:
        raise _Usage(f"the target is Service.Method, e.g. Arith.Mul, got {a.target!r}")
    return path, method, _args(a.args, CodecRegistry.resolve(a.codec)), _meta(a.meta or [])


def _kcp_block(address: str, password: str) -> Any:
    """The block crypt a ``kcp@`` address needs (the rpcx examples' key from ``--kcp-key``), else None."""
    if not address.startswith("kcp@"):
        return None
    try:
        from .transport.kcp import block_from_password
    except ImportError as exc:
        raise RpcxError(f"the kcp transport needs: pip install 'rpcx-python[kcp]' ({exc})") from None
    return block_from_password(password)


async def _call(a: argparse.Namespace) -> int:
    path, method, args, meta = _check_call(a)
    ser = CodecRegistry.resolve(a.codec)
    option = Option(serialize_type=ser, connect_timeout=a.timeout, kcp_block=_kcp_block(a.address, a.kcp_key))
    async with await Client.connect(a.address, option) as c:
        res_md: dict[str, str] = {}
        try:
            reply = await c.call(path, method, args, metadata=meta, response_metadata=res_md, timeout=a.timeout)
        except CallTimeoutError:
            raise CallTimeoutError(f"{a.target} at {a.address} did not answer within {human_duration(a.timeout)}") from None
    print(to_json(reply))
    if res_md:
        print(f"metadata: {to_json(res_md)}", file=sys.stderr)
    return 0


async def _ping(a: argparse.Namespace) -> int:
    option = Option(connect_timeout=a.timeout, kcp_block=_kcp_block(a.address, a.kcp_key))
    async with await Client.connect(a.address, option) as c:
        for i in range(a.count):
            try:
                rtt = await c.heartbeat(timeout=a.timeout)
            except CallTimeoutError:
                raise CallTimeoutError(f"heartbeat {i + 1} not answered within {human_duration(a.timeout)}") from None
            print(f"heartbeat {i + 1}: {human_duration(rtt)}")
    return 0


def _decode(a: argparse.Namespace) -> int:
    try:
        data = bytes.fromhex("".join(a.hex.split()))
    except ValueError as exc:
        raise _Usage(f"the frame is hex, e.g. 0800003000..., got {a.hex[:20]!r}: {exc}") from None
    decoder = FrameDecoder(Limits(0, 0))
    for msg in decoder.feed(data):
        print(repr(msg))
        print(f"  payload: {msg.payload[:256]!r}{'...' if len(msg.payload) > 256 else ''}")
    if decoder.buffered:
        raise ProtocolError(f"incomplete frame: {decoder.buffered} bytes left over"
                            + (", a frame needs at least 16" if decoder.buffered < 16 else ""))
    return 0


def _load(target: str) -> Any:
    """``module:attribute`` imported; a class is instantiated (``Arith`` -> ``Arith()``)."""
    module, colon, attr = target.partition(":")
    if not colon or not module or not attr:
        raise _Usage(f"the service is module:attribute, e.g. mypkg.arith:Arith, got {target!r}")
    sys.path.insert(0, ".")
    try:
        obj = importlib.import_module(module)
    except ImportError as exc:
        raise _Usage(f"cannot import {module}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _Usage(f"{module} has no {attr}") from None
    return obj() if isinstance(obj, type) else obj


async def _serve(a: argparse.Namespace) -> int:
    from .server import Server

    obj = _load(a.service)
    tls = None
    if a.cert:
        try:
            tls = server_tls_context(a.cert, a.key)  # remembers the files, which quic@ loads itself
        except (OSError, ssl.SSLError) as exc:
            return fail("rpcx serve", f"cannot use certificate {a.cert}", exc)
    server = Server(tls=tls)
    server.register(obj, a.metadata, name=a.name)
    if a.gateway:
        from .gateway import enable_gateway

        try:
            enable_gateway(server)
        except ImportError as exc:
            return fail("rpcx serve", "cannot serve the gateway", exc)
    try:
        block = _kcp_block(a.address, a.kcp_key)
        address = await server.start(a.address, **({"block": block} if block is not None else {}))
    except (OSError, ValueError, RpcxError) as exc:
        return fail("rpcx serve", f"cannot listen on {a.address}", exc)
    print(f"serving {address}", flush=True)
    await server.run_until_signalled(timeout=10)
    return 0


def _discovery(registry: str) -> Any:
    """``peer2peer://ADDRESS`` or ``multiple://ADDRESS,ADDRESS`` (rpcx-gateway's ``-registry``); an
    address without a network is tcp, as in Go (``127.0.0.1:8972`` is ``tcp@127.0.0.1:8972``)."""
    from .client import KVPair, MultipleServersDiscovery, Peer2PeerDiscovery

    scheme, sep, rest = registry.partition("://")
    keys = [k if "@" in k else f"tcp@{k}" for k in rest.split(",") if k]
    if not sep or not keys:
        raise _Usage(f"--registry is peer2peer://ADDRESS or multiple://ADDRESS,ADDRESS, got {registry!r}")
    if scheme == "peer2peer" and len(keys) == 1:
        return Peer2PeerDiscovery(keys[0])
    if scheme == "multiple":
        return MultipleServersDiscovery([KVPair(k) for k in keys])
    raise _Usage(f"unknown registry {scheme!r} (peer2peer:// with one address, or multiple://)")


async def _gateway(a: argparse.Namespace) -> int:
    try:
        from .gateway import CorsOptions
        from .gateway.standalone import StandaloneGateway
    except ImportError as exc:
        return fail("rpcx gateway", "cannot run the gateway", exc)
    gw = StandaloneGateway(_discovery(a.registry), timeout=a.timeout or None, disable_jsonrpc=a.no_jsonrpc,
                           cors=CorsOptions.allow_all() if a.cors else None)
    try:
        address = await gw.start(a.address)
    except (OSError, ValueError, RpcxError) as exc:
        await gw.aclose()
        return fail("rpcx gateway", f"cannot listen on {a.address}", exc)
    print(f"serving {address}", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await gw.aclose()
    return 0


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, and descriptions as written."""


def parser() -> argparse.ArgumentParser:
    """The ``rpcx`` argument parser (``rpcx --help``, ``rpcx call --help``, ...)."""
    p = Parser(prog="rpcx", description="rpcx for Python: a command line.\n\n" + (__doc__ or "").split("\n\n")[1],
               formatter_class=_Help)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{serve,call,ping,decode,gateway}", parser_class=Parser)
    v = sub.add_parser("serve", help="serve a Python object's methods until Ctrl-C", formatter_class=_Help,
                       description="Register module:attribute (a class is instantiated) and serve it; prints "
                                   "'serving ADDRESS' once it accepts calls; SIGINT/SIGTERM finish calls in flight.")
    v.add_argument("address", help="where to listen, e.g. tcp@127.0.0.1:8972, tcp@127.0.0.1:0, unix@/tmp/rpcx.sock")
    v.add_argument("service", help="module:attribute to serve, e.g. mypkg.arith:Arith")
    v.add_argument("--name", help="service name (default: the class name), e.g. --name Arith")
    v.add_argument("--metadata", default="", help="registry metadata, e.g. --metadata 'weight=2&group=a'")
    v.add_argument("--cert", help="TLS certificate (PEM), e.g. --cert server.pem")
    v.add_argument("--key", help="TLS private key (PEM), e.g. --key server.key")
    v.add_argument("--kcp-key", default="rpcx-key", help="kcp@: the block crypt password (AES-256, key pbkdf2-sha1 with salt rpcx-salt, as the rpcx examples), e.g. --kcp-key secret")
    v.add_argument("--gateway", action="store_true",
                   help="also answer HTTP invoke and JSON-RPC 2.0 on the same port, as Go's server does "
                        "(see docs/gateway.md), e.g. curl -H 'X-JSONRPC-2.0: true' ...")
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
    c.add_argument("--kcp-key", default="rpcx-key", help="kcp@: the block crypt password (AES-256, key pbkdf2-sha1 with salt rpcx-salt, as the rpcx examples), e.g. --kcp-key secret")
    g = sub.add_parser("ping", help="send heartbeats and print round-trip times", formatter_class=_Help,
                       description="Send heartbeats and print each round-trip time.")
    g.add_argument("address", help="server address, e.g. tcp@127.0.0.1:8972")
    g.add_argument("--count", type=int, default=3, help="how many heartbeats, e.g. --count 10")
    g.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="connect and per-heartbeat timeout in seconds, e.g. --timeout 1")
    g.add_argument("--kcp-key", default="rpcx-key", help="kcp@: the block crypt password (AES-256, key pbkdf2-sha1 with salt rpcx-salt, as the rpcx examples), e.g. --kcp-key secret")
    d = sub.add_parser("decode", help="decode rpcx frames given in hex", formatter_class=_Help,
                       description="Decode rpcx frames given in hex (whitespace ignored).")
    d.add_argument("hex", help="frame bytes in hex, e.g. 0800003000000000...")
    w = sub.add_parser("gateway", help="serve HTTP invoke and JSON-RPC in front of rpcx servers", formatter_class=_Help,
                       description="Forward HTTP invoke (X-RPCX-* headers) and JSON-RPC 2.0 requests to the rpcx "
                                   "servers of a registry (what rpcxio/rpcx-gateway does); prints 'serving ADDRESS'. "
                                   "Answers as Go's same-port gateway does; see docs/gateway.md.\n\n"
                                   "  rpcx gateway tcp@127.0.0.1:9981 --registry peer2peer://tcp@127.0.0.1:8972\n"
                                   "  curl http://127.0.0.1:9981/Arith -H 'X-RPCX-SerializeType: 1' "
                                   "-H 'X-RPCX-ServiceMethod: Mul' -d '{\"A\":10,\"B\":20}'")
    w.add_argument("address", help="where to listen for HTTP, e.g. tcp@127.0.0.1:9981")
    w.add_argument("--registry", required=True,
                   help="where the servers are: peer2peer://ADDRESS or multiple://ADDRESS,ADDRESS, "
                        "e.g. --registry multiple://tcp@10.0.0.1:8972,tcp@10.0.0.2:8972")
    w.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="per-call timeout (a caller's __ServerTimeout in X-RPCX-Meta may shorten it; 0: none), "
                        "e.g. --timeout 5")
    w.add_argument("--cors", action="store_true", help="allow every origin (Go's AllowAllCORSOptions)")
    w.add_argument("--no-jsonrpc", action="store_true", help="answer HTTP invoke only")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 the command failed, 2 usage)."""
    a = parser().parse_args(argv)
    prog = f"rpcx {a.cmd}"
    try:
        if a.cmd == "decode":
            return _decode(a)
        if a.cmd == "call":
            _check_call(a)  # a usage mistake is reported as one, before anything is dialled
            return asyncio.run(_call(a))
        if a.cmd == "serve":
            return asyncio.run(_serve(a))
        if a.cmd == "gateway":
            _discovery(a.registry)  # a usage mistake is reported as one, before anything listens
            return asyncio.run(_gateway(a))
        return asyncio.run(_ping(a))
    except _Usage as exc:
        print(f"{prog}: {exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except (RpcxError, OSError, ValueError) as exc:
        what = {"call": f"{getattr(a, 'target', '')} at {getattr(a, 'address', '')}",
                "ping": f"heartbeat to {getattr(a, 'address', '')}", "decode": "cannot decode"}.get(a.cmd, a.cmd)
        return fail(prog, what, exc)
    except KeyboardInterrupt:
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
