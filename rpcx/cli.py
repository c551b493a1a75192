"""Command line (layer: tools): serve objects, call a service, ping a server, decode a frame, run a
gateway, dump the calls in a capture or between a client and a server, list a registry's services,
run the rpcx proxy.

    rpcx serve tcp@127.0.0.1:8972 mypkg.arith:Arith                    # serve Arith() until Ctrl-C
    rpcx serve tcp@127.0.0.1:8972 mypkg.arith:Arith --gateway          # ... with HTTP invoke and JSON-RPC too
    rpcx serve tcp@127.0.0.1:8972 mypkg.arith:Arith --gateway --console  # ... and a web page: /_rpcx/console/
    rpcx gateway tcp@127.0.0.1:9981 --registry peer2peer://tcp@127.0.0.1:8972   # HTTP in front of rpcx
    rpcx call tcp@127.0.0.1:8972 Arith.Mul '{"A": 10, "B": 20}'        # JSON in, JSON out
    rpcx call tcp@127.0.0.1:8972 Arith.Mul '{"A": 10, "B": 20}' --codec msgpack --meta k=v
    rpcx call tcp@127.0.0.1:8972 Arith.Echo aGVsbG8= --codec raw        # bytes in and out as base64
    rpcx ping tcp@127.0.0.1:8972 --count 3                             # heartbeat round trips
    rpcx decode 0800003000000000...                                     # explain a frame in hex
    rpcx dump capture.pcap --port 8972                                 # the calls in a tcpdump capture
    rpcx dump --listen 127.0.0.1:9000 --upstream 127.0.0.1:8972        # ... or live, between client and server
    rpcx list --registry redis://127.0.0.1:6379                        # services and servers in a registry
    rpcx proxy -c examples/proxy/proxy.yaml                            # route calls to upstream clusters

One text form for everything it prints: the reply as JSON, with bytes as base64 strings (as Go's
``encoding/json`` writes ``[]byte``) and times as RFC 3339 in every codec; response metadata as a
JSON object; durations as people read them (``500 ms``, ``1.5 s``).

Errors are one line on stderr, without a traceback (:mod:`rpcx.oneline`): exit status 1 when the
command ran and failed (cannot listen, cannot reach the server, the call failed, no rpcx frame in
a capture), 2 when the command line is wrong.
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
    if a.console and not a.gateway:
        raise _Usage("--console is served by the gateway: add --gateway")
    if a.gateway:
        from .gateway import enable_gateway

        try:
            enable_gateway(server, console=a.console)
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


#: registry schemes the gateway opens through :func:`rpcx.registry.registry_discovery`
_REGISTRY_SCHEMES = ("redis", "etcd", "zookeeper", "consul", "mdns", "dns")


def _discovery(registry: str) -> Any:
    """``peer2peer://ADDRESS`` or ``multiple://ADDRESS,ADDRESS`` (rpcx-gateway's ``-registry``); an
    address without a network is tcp, as in Go (``127.0.0.1:8972`` is ``tcp@127.0.0.1:8972``).
    A registry URL (``redis://``, ``etcd://``, ``zookeeper://``, ``consul://``, ``mdns://``,
    ``dns://``) returns None here: it is opened, and can fail, only once the loop runs."""
    from .client import KVPair, MultipleServersDiscovery, Peer2PeerDiscovery

    scheme, sep, rest = registry.partition("://")
    if sep and scheme in _REGISTRY_SCHEMES:
        return None
    keys = [k if "@" in k else f"tcp@{k}" for k in rest.split(",") if k]
    if not sep or not keys:
        raise _Usage(f"--registry is peer2peer://ADDRESS, multiple://ADDRESS,ADDRESS or a registry URL "
                     f"such as redis://127.0.0.1:6379, got {registry!r}")
    if scheme == "peer2peer" and len(keys) == 1:
        return Peer2PeerDiscovery(keys[0])
    if scheme == "multiple":
        return MultipleServersDiscovery([KVPair(k) for k in keys])
    known = ", ".join(f"{s}://" for s in _REGISTRY_SCHEMES)
    raise _Usage(f"unknown registry {scheme!r} (peer2peer:// with one address, multiple://, or {known})")


async def _gateway(a: argparse.Namespace) -> int:
    try:
        from .gateway import CorsOptions
        from .gateway.standalone import StandaloneGateway
    except ImportError as exc:
        return fail("rpcx gateway", "cannot run the gateway", exc)
    discovery = _discovery(a.registry)
    if discovery is None:  # a registry: one connection, a discovery per service path cloned from it
        import logging

        from .registry import registry_discovery

        # kazoo logs each failed connect; the one line below says what failed
        kazoo = logging.getLogger("kazoo")
        level = kazoo.level
        kazoo.setLevel(logging.CRITICAL)
        try:
            discovery = await registry_discovery(a.registry, "", base_path=a.base_path)
        except (RpcxError, ValueError, OSError) as exc:
            return fail("rpcx gateway", f"cannot use registry {a.registry} (is it running there?)", exc)
        finally:
            kazoo.setLevel(level)
    gw = StandaloneGateway(discovery, timeout=a.timeout or None, disable_jsonrpc=a.no_jsonrpc,
                           cors=CorsOptions.allow_all() if a.cors else None, console=a.console)
    try:
        address = await gw.start(a.address)
    except (OSError, ValueError, RpcxError) as exc:
        await gw.aclose()
        await _close_discovery(discovery)
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
        await _close_discovery(discovery)
    return 0


async def _close_discovery(discovery: Any) -> None:
    aclose = getattr(discovery, "aclose", None)
    if aclose is not None:
        await aclose()


def _endpoint(text: str, option: str) -> tuple[str, int]:
    from .transport.tcp import split_host_port

    try:
        return split_host_port(text.partition("@")[2] if "@" in text else text)
    except ValueError:
        raise _Usage(f"{option} is HOST:PORT, e.g. {option} 127.0.0.1:9000, got {text!r}") from None


def _check_dump(a: argparse.Namespace) -> None:
    if a.capture and a.listen:
        raise _Usage("give a capture file or --listen/--upstream, not both")
    if not a.capture and not a.listen:
        raise _Usage("give a capture file (rpcx dump capture.pcap) or --listen HOST:PORT --upstream HOST:PORT")
    if a.listen and not a.upstream:
        raise _Usage("--listen needs --upstream, the server to relay to, e.g. --upstream 127.0.0.1:8972")
    if a.upstream and not a.listen:
        raise _Usage("--upstream needs --listen, where clients connect instead, e.g. --listen 127.0.0.1:9000")
    if a.listen:
        _endpoint(a.listen, "--listen")
        _endpoint(a.upstream, "--upstream")


def _printer(as_json: bool) -> Any:
    from .dump import Shown

    def show(s: Shown) -> None:
        if s.message is None and not as_json:
            print(s.text(), file=sys.stderr, flush=True)  # notes are not frames: keep stdout parseable
        else:
            print(json.dumps(s.as_json(), ensure_ascii=False, default=_json_default) if as_json else s.text(),
                  flush=True)

    return show


def _dump_file(a: argparse.Namespace) -> int:
    from .dump.pcap import CaptureError
    from .dump.relay import read_capture

    try:
        with open(a.capture, "rb") as f:
            data = f.read()
    except OSError as exc:
        return fail("rpcx dump", f"cannot read {a.capture}", exc)
    try:
        n = read_capture(data, _printer(a.json), a.port)
    except CaptureError as exc:
        return fail("rpcx dump", a.capture, exc)
    if n == 0:
        where = f" on port {a.port}" if a.port is not None else ""
        print(f"rpcx dump: no rpcx frames in {a.capture}{where} (was it captured on the rpcx port, e.g. "
              "tcpdump -i lo -w FILE tcp port 8972, from the connection's start?)", file=sys.stderr)
        return EXIT_FAILED
    return 0


async def _dump_relay(a: argparse.Namespace) -> int:
    from .dump.relay import Relay

    relay = Relay(_endpoint(a.listen, "--listen"), _endpoint(a.upstream, "--upstream"), _printer(a.json))
    try:
        host, port = await relay.start()
    except OSError as exc:
        return fail("rpcx dump", f"cannot listen on {a.listen}", exc)
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    print(f"serving tcp@{shown} (relaying to {a.upstream}; point the client here)", flush=True)
    await _until_signalled()
    await relay.aclose()
    return 0


async def _until_signalled() -> None:
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _list(a: argparse.Namespace) -> int:
    import logging

    from .registry import RegistryError, backend_for, join_key

    # the client libraries log their retries as warnings; the one line below says what failed
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    try:
        backend = backend_for(a.registry, connect_timeout=a.timeout)
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    except RegistryError as exc:
        if "unknown registry scheme" in str(exc):
            raise _Usage(str(exc)) from None
        return fail("rpcx list", f"cannot use {a.registry}", exc)
    try:
        await asyncio.wait_for(backend.connect(), a.timeout)
        names = [p.key for p in await asyncio.wait_for(backend.list(a.base_path), a.timeout)]
        services = {}
        for name in names:
            services[name] = await asyncio.wait_for(backend.list(join_key(a.base_path, name)), a.timeout)
    except (RegistryError, OSError, asyncio.TimeoutError) as exc:
        why = exc if str(exc) else RpcxError(f"no answer within {human_duration(a.timeout)}")
        return fail("rpcx list", f"cannot list {a.base_path} at {a.registry} (is the registry running there?)", why)
    finally:
        await backend.close()
    if a.json:
        print(json.dumps({name: {p.key: p.value for p in pairs} for name, pairs in services.items()}))
        return 0
    if not services:
        print(f"rpcx list: no services under {a.base_path} at {a.registry} (servers publish with "
              "--base-path; is it the same?)", file=sys.stderr)
        return 0
    for name, pairs in services.items():
        print(name)
        for p in pairs:
            print(f"  {p.key}" + (f"  {p.value}" if p.value else ""))
        if not pairs:
            print("  (no servers)")
    return 0


async def _proxy(a: argparse.Namespace) -> int:
    import random
    import signal

    from .proxy import ProxyApp

    app = ProxyApp(a.config, rng=random.Random(a.seed) if a.seed is not None else None)
    try:
        addresses = await app.start()  # ConfigError (a ValueError) says where and what
    except (OSError, RpcxError) as exc:
        return fail("rpcx proxy", "cannot start", exc)
    for address in addresses:
        print(f"serving {address}", flush=True)
    if app.admin is not None:
        print(f"admin {app.admin.address}", flush=True)
    if app.metrics_endpoint is not None:
        print(f"metrics {app.metrics_endpoint.address}", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[Any]] = set()

    def on_hup() -> None:
        task = loop.create_task(app.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    watcher = loop.create_task(app.watch_file(a.watch)) if a.watch > 0 else None
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await app.aclose()
    return 0


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, and descriptions as written."""


def parser() -> argparse.ArgumentParser:
    """The ``rpcx`` argument parser (``rpcx --help``, ``rpcx call --help``, ...)."""
    p = Parser(prog="rpcx", description="rpcx for Python: a command line.\n\n" + (__doc__ or "").split("\n\n")[1],
               formatter_class=_Help)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{serve,call,ping,decode,gateway,dump,list,proxy}",
                           parser_class=Parser)
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
    v.add_argument("--console", action="store_true",
                   help="with --gateway: serve the web console at http://ADDRESS/_rpcx/console/ (the services, "
                        "calls and errors counted, a form to call a method with JSON arguments)")
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
                                   "  rpcx gateway tcp@127.0.0.1:9981 --registry redis://127.0.0.1:6379 --base-path /rpcx_test\n"
                                   "  curl http://127.0.0.1:9981/Arith -H 'X-RPCX-SerializeType: 1' "
                                   "-H 'X-RPCX-ServiceMethod: Mul' -d '{\"A\":10,\"B\":20}'")
    w.add_argument("address", help="where to listen for HTTP, e.g. tcp@127.0.0.1:9981")
    w.add_argument("--registry", required=True,
                   help="where the servers are: peer2peer://ADDRESS, multiple://ADDRESS,ADDRESS, or a registry "
                        "(redis://, etcd://, zookeeper://, consul:// HOST:PORT, mdns://, dns://NS/NAME?port=P), "
                        "e.g. --registry multiple://tcp@10.0.0.1:8972,tcp@10.0.0.2:8972 or --registry etcd://127.0.0.1:2379")
    w.add_argument("--base-path", default="/rpcx",
                   help="with a registry: the servers' base path (rpcx-gateway's default), e.g. --base-path /rpcx_test")
    w.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="per-call timeout (a caller's __ServerTimeout in X-RPCX-Meta may shorten it; 0: none), "
                        "e.g. --timeout 5")
    w.add_argument("--cors", action="store_true", help="allow every origin (Go's AllowAllCORSOptions)")
    w.add_argument("--no-jsonrpc", action="store_true", help="answer HTTP invoke only")
    w.add_argument("--console", action="store_true",
                   help="serve the web console at http://ADDRESS/_rpcx/console/ (the servers and services seen, "
                        "calls and errors counted per server, a form to call a method with JSON arguments)")
    u = sub.add_parser("dump", help="show the rpcx calls in a capture file or between a client and a server",
                       formatter_class=_Help,
                       description="Show each rpcx frame (service, method, seq, metadata, payload decoded by its "
                                   "codec; bytes as base64) read from a pcap/pcapng capture, or seen while relaying "
                                   "between a client and a server (what Go's rpcxdump does). One line per frame on "
                                   "stdout (--json: one JSON object per line); notes about connections that are not "
                                   "rpcx go to stderr.\n\n"
                                   "  tcpdump -i lo -w calls.pcap tcp port 8972     # capture, then\n"
                                   "  rpcx dump calls.pcap --port 8972\n"
                                   "  rpcx dump --listen 127.0.0.1:9000 --upstream 127.0.0.1:8972\n"
                                   "  rpcx call tcp@127.0.0.1:9000 Arith.Mul '{\"A\": 10, \"B\": 20}'   # via the relay\n\n"
                                   "Exit status: 0 done (the relay: stopped by Ctrl-C or SIGTERM), 1 the file cannot "
                                   "be read, is not a capture or holds no rpcx frame, 2 the command line is wrong.")
    u.add_argument("capture", nargs="?", help="a pcap or pcapng file, e.g. calls.pcap")
    u.add_argument("--port", type=int, help="only connections to or from this TCP port (None: every connection "
                                             "that speaks rpcx), e.g. --port 8972")
    u.add_argument("--listen", metavar="HOST:PORT", help="relay mode: where clients connect, e.g. 127.0.0.1:9000")
    u.add_argument("--upstream", metavar="HOST:PORT", help="relay mode: the real server, e.g. 127.0.0.1:8972")
    u.add_argument("--json", action="store_true", help="one JSON object per frame, for scripts")
    li = sub.add_parser("list", help="list the services and servers in a registry", formatter_class=_Help,
                        description="List the services published in a registry and each one's servers "
                                    "(address and metadata), as rpcx servers publish them (Go's key layout "
                                    "BASE/Service/network@host:port).\n\n"
                                    "  rpcx list --registry redis://127.0.0.1:6379\n"
                                    "  rpcx list --registry etcd://127.0.0.1:2379 --base-path /rpcx_test --json\n\n"
                                    "Exit status: 0 listed (nothing under the base path is not an error: stderr says "
                                    "so), 1 the registry cannot be reached, 2 the command line is wrong.")
    li.add_argument("--registry", required=True,
                    help="the registry URL: redis://, etcd://, zookeeper:// or consul:// HOST:PORT, "
                         "e.g. --registry zookeeper://127.0.0.1:2181")
    li.add_argument("--base-path", default="/rpcx", help="the servers' base path, e.g. --base-path /rpcx_test")
    li.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                    help="how long to wait for the registry, e.g. --timeout 1")
    li.add_argument("--json", action="store_true",
                    help='print {"Service": {"tcp@host:port": "metadata"}} for scripts')
    x = sub.add_parser("proxy", help="route rpcx calls to upstream clusters (config from a YAML file)",
                       formatter_class=_Help,
                       description="An rpcx-aware proxy: routes each call by service, method, metadata and client "
                                   "address to weighted upstream clusters, with timeouts, metadata edits, fault "
                                   "injection and an access log; payloads are forwarded untouched. Prints "
                                   "'serving ADDRESS' per listen address. SIGHUP or a change to the file "
                                   "reloads it (an invalid file keeps the old configuration). See docs/proxy.md.\n\n"
                                   "  rpcx proxy -c examples/proxy/proxy.yaml")
    x.add_argument("-c", "--config", required=True, help="the YAML configuration file, e.g. -c proxy.yaml")
    x.add_argument("--watch", type=float, default=1.0, metavar="SECONDS",
                   help="reload when the file changes, checked this often (0: only on SIGHUP), e.g. --watch 2")
    x.add_argument("--seed", type=int, default=None,
                   help="seed the random draws of faults and weights (reproducible runs), e.g. --seed 1")
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
        if a.cmd == "dump":
            _check_dump(a)
            return _dump_file(a) if a.capture else asyncio.run(_dump_relay(a))
        if a.cmd == "list":
            return asyncio.run(_list(a))
        if a.cmd == "gateway":
            _discovery(a.registry)  # a usage mistake is reported as one, before anything listens
            return asyncio.run(_gateway(a))
        if a.cmd == "proxy":
            from .proxy.config import ConfigError

            try:
                try:
                    import uvloop  # the speed extra: the proxy is all event-loop work
                except ImportError:
                    return asyncio.run(_proxy(a))
                return uvloop.run(_proxy(a))
            except ConfigError as exc:
                print(f"{prog}: invalid configuration: {exc}", file=sys.stderr)
                return EXIT_USAGE
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
