"""Call Arith.Mul(10, 20): ``python examples/arith/client.py tcp@127.0.0.1:8972 [--codec json|msgpack|protobuf|raw] [--tls --insecure] [--auth T]``.

``kcp@127.0.0.1:8972 --kcp-key PASS`` calls over KCP (the ``kcp`` extra; default password ``rpcx-key``).

``python examples/arith/client.py - --registry redis://h:p [--base-path /rpcx_test]`` finds the
servers in a registry instead (``-`` for the address), as Go's discovery does; also
``--registry mdns://127.0.0.1`` (mDNS on the interface with that address; browses until a server
answers or ``--timeout`` passes) and ``--registry dns://NAMESERVER:PORT/NAME?port=8972`` (the
name's A/AAAA records, all serving on ``port``; ``dns:///NAME`` asks the system's resolver).

Prints ``10 * 20 = 200`` and exits 0. With ``--codec raw`` (no struct to carry) it calls
Arith.Echo and prints ``echo: hello``. Anything else prints one line on stderr, without a
traceback, and exits non-zero (the same statuses as the Go peer tests/interop/goclient; see
rpcx/oneline.py):

    client.py: Arith.Mul at tcp@127.0.0.1:8972: dial tcp@127.0.0.1:8972: connection refused   (exit 1)
    client.py: Arith.Mul at tcp@127.0.0.1:8972: invalid token                                  (exit 1)
    client.py: argument --codec: invalid choice: 'xml' (choose from ...) (see --help)         (exit 2)
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arith import Args, Reply  # noqa: E402
from rpcx.oneline import EXIT_USAGE, Parser, fail  # noqa: E402

from rpcx import FailMode, Option, Peer2PeerDiscovery, RpcxError, SelectMode, XClient  # noqa: E402
from rpcx.client.discovery import ServiceDiscovery  # noqa: E402
from rpcx.codec import CodecRegistry  # noqa: E402
from rpcx.registry import registry_discovery  # noqa: E402

PROG = "client.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("address", help="network@host:port of the server, or - with --registry")
    p.add_argument("--codec", default="msgpack", choices=["json", "msgpack", "protobuf", "raw"])
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--insecure", action="store_true", help="skip certificate verification")
    p.add_argument("--cert", help="CA certificate to trust (PEM)")
    p.add_argument("--key", help="unused by the client; accepted for symmetry")
    p.add_argument("--auth", help="send this __AUTH token")
    p.add_argument("--kcp-key", default="rpcx-key",
                   help="kcp@: the block crypt password (pbkdf2-sha1, salt rpcx-salt, AES-256; default rpcx-key)")
    p.add_argument("--registry", help="find the servers in this registry: redis://h:p, etcd://h:p, zookeeper://h:p, "
                   "mdns://[iface-ip] or dns://[ns[:port]]/name?port=P")
    p.add_argument("--base-path", default="/rpcx_test", help="the registry base path (default /rpcx_test)")
    p.add_argument("--timeout", type=float, default=5.0)
    return p.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    tls = None
    if opts.tls:
        try:
            tls = ssl.create_default_context(cafile=opts.cert)
        except ssl.SSLError as exc:
            return fail(PROG, f"cannot use CA certificate {opts.cert}", exc)
        except OSError as exc:
            return fail(PROG, f"cannot read CA certificate {opts.cert}", exc)
        if opts.insecure:
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
    kcp_block = None
    if opts.address.startswith("kcp@") or opts.registry:  # a registry may hand out kcp@ servers
        try:
            from rpcx.transport.kcp import block_from_password
        except ImportError as exc:
            if not opts.registry:
                return fail(PROG, "kcp@ needs: pip install 'rpcx-python[kcp]'", exc)
        else:
            kcp_block = block_from_password(opts.kcp_key)
    option = Option(serialize_type=CodecRegistry.resolve(opts.codec), tls=tls, retries=1, kcp_block=kcp_block)
    if (opts.address == "-") != bool(opts.registry):
        print(f"{PROG}: give a server address, or - with --registry (see --help)", file=sys.stderr)
        return EXIT_USAGE
    discovery: ServiceDiscovery = Peer2PeerDiscovery(opts.address)
    if opts.registry:
        try:
            discovery = await registry_discovery(opts.registry, "Arith", base_path=opts.base_path)
        except (RpcxError, ValueError) as exc:  # unreachable, an unknown scheme, a missing extra
            return fail(PROG, f"cannot use registry {opts.registry}", exc)
        if opts.registry.startswith("mdns:"):
            # mDNS cannot tell "no server" from "not answered yet" (a responder stays quiet for a
            # second after announcing): browse again until one answers, within --timeout
            deadline = asyncio.get_running_loop().time() + opts.timeout
            while not discovery.get_services() and asyncio.get_running_loop().time() < deadline:
                await discovery.refresh()  # type: ignore[attr-defined]
    xc = XClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, discovery, option)
    if opts.auth is not None:
        xc.auth(opts.auth)
    method = "Echo" if opts.codec == "raw" else "Mul"
    try:
        if opts.codec == "raw":
            data = await xc.call("Echo", b"hello", bytes, timeout=opts.timeout)
            print(f"echo: {data.decode()}")
        else:
            reply = await xc.call("Mul", Args(A=10, B=20), Reply, timeout=opts.timeout)
            print(f"10 * 20 = {reply.C}")
    except (RpcxError, OSError, ValueError) as exc:
        # no server there, a malformed address, an unknown network, a refused or failed call
        return fail(PROG, f"Arith.{method} at {opts.registry or opts.address}", exc)
    finally:
        await xc.aclose()
        await discovery.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
