"""Serve Arith: ``python examples/arith/server.py tcp@127.0.0.1:8972 [--codec ...] [--cert F --key F] [--auth T] [--gateway [--cors]] [--registry URL]``.

``kcp@127.0.0.1:8972 --kcp-key PASS`` serves over KCP (the ``kcp`` extra) with the rpcx examples'
key derivation (default password ``rpcx-key``, as theirs).

With ``--registry redis://h:p`` (or ``etcd://``, ``zookeeper://``) it also publishes itself at
``--base-path`` (default ``/rpcx_test``) under the address it bound (or ``--advertise``), as Go's
registry plugins do, and leaves the registry when it stops. ``--registry mdns://127.0.0.1``
announces it over mDNS on the interfaces with those addresses (``mdns://`` alone: every
interface), as Go's MDNSRegisterPlugin. ``dns://`` is refused: DNS is read-only to rpcx.

Prints ``serving <address>`` once it accepts calls; SIGINT/SIGTERM finish calls in flight, then exit 0.
A server that cannot start prints one line on stderr and exits non-zero, without a traceback (the
same statuses as the Go peer tests/interop/goserver; see rpcx/oneline.py):

    server.py: cannot listen on tcp@127.0.0.1:8972: address already in use        (exit 1)
    server.py: cannot read certificate cert.pem: no such file or directory         (exit 1)
    server.py: unrecognized arguments: --bogus (see --help)                        (exit 2)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arith import Arith  # noqa: E402
from rpcx.oneline import EXIT_USAGE, Parser, fail  # noqa: E402

from rpcx import RpcxError, Server  # noqa: E402
from rpcx.registry import registry_plugin  # noqa: E402
from rpcx.transport import server_tls_context  # noqa: E402

PROG = "server.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("address", help="network@host:port, e.g. tcp@127.0.0.1:8972 or unix@./arith.sock")
    p.add_argument("--codec", default="msgpack", help="accepted for symmetry with the client; the server speaks every codec")
    p.add_argument("--cert", help="TLS certificate (PEM); may hold the key too")
    p.add_argument("--key", help="TLS private key (PEM)")
    p.add_argument("--auth", help="require this __AUTH token")
    p.add_argument("--kcp-key", default="rpcx-key",
                   help="kcp@: the block crypt password (pbkdf2-sha1, salt rpcx-salt, AES-256; default rpcx-key)")
    p.add_argument("--gateway", action="store_true",
                   help="also answer HTTP invoke and JSON-RPC 2.0 on the same port, as Go's server does (needs h11)")
    p.add_argument("--cors", action="store_true", help="with --gateway: allow every origin (Go's AllowAllCORSOptions)")
    p.add_argument("--http-parser", default="auto", choices=["auto", "h11", "httptools"],
                   help="with --gateway: the HTTP/1 parser (auto: httptools when installed)")
    p.add_argument("--registry", help="publish to this registry: redis://h:p, etcd://h:p, zookeeper://h:p or mdns://[iface-ip]")
    p.add_argument("--base-path", default="/rpcx_test", help="the registry base path (default /rpcx_test)")
    p.add_argument("--advertise", help="the address clients dial, when not the bound one (e.g. tcp@10.0.0.5:8972)")
    p.add_argument("--verbose", "-v", action="store_true")
    return p.parse_args(argv)


def tls_context(cert: str, key: str | None) -> ssl.SSLContext:
    """Load the certificate; raises OSError naming the file that cannot be read, or ssl.SSLError."""
    for path in (cert, key):
        if path is not None:
            with open(path, "rb"):  # the open error carries the file name; load_cert_chain's does not
                pass
    return server_tls_context(cert, key)  # remembers the files, which quic@ (aioquic) loads itself


async def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if opts.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if opts.key and not opts.cert:
        print(f"{PROG}: --key needs --cert (see --help)", file=sys.stderr)
        return EXIT_USAGE
    tls = None
    if opts.cert:
        try:
            tls = tls_context(opts.cert, opts.key)
        except ssl.SSLError as exc:
            files = opts.cert if not opts.key else f"{opts.cert} with key {opts.key}"
            return fail(PROG, f"cannot use certificate {files}", exc)
        except OSError as exc:
            return fail(PROG, f"cannot read certificate {exc.filename or opts.cert}", exc)

    auth = None
    if opts.auth is not None:
        def auth(ctx: object, token: str) -> None:
            if token != opts.auth:
                raise PermissionError("invalid token")

    server = Server(tls=tls, auth=auth)
    plugin = None
    if opts.registry:
        try:
            plugin = registry_plugin(opts.registry, base_path=opts.base_path)
        except (RpcxError, ValueError) as exc:  # an unknown scheme, a missing extra, a malformed URL
            return fail(PROG, f"cannot use registry {opts.registry}", exc)
        server.add_plugin(plugin)
    server.register_name("Arith", Arith())
    if opts.gateway:
        from rpcx.gateway import CorsOptions, enable_gateway

        enable_gateway(server, cors=CorsOptions.allow_all() if opts.cors else None, parser=opts.http_parser)
    options = {}
    if opts.address.startswith("kcp@"):
        try:
            from rpcx.transport.kcp import block_from_password
        except ImportError as exc:
            return fail(PROG, "kcp@ needs: pip install 'rpcx-python[kcp]'", exc)
        options["block"] = block_from_password(opts.kcp_key)
    try:
        address = await server.start(opts.address, **options)
    except (OSError, ValueError, RpcxError) as exc:
        # address in use, no such host, no such directory for a unix socket, a malformed address,
        # an unknown network: the person typed something the machine cannot serve
        await server.close()
        return fail(PROG, f"cannot listen on {opts.address}", exc)
    if plugin is not None:
        try:
            await plugin.start(opts.advertise or address)
        except (RpcxError, ValueError) as exc:
            await server.close()
            await plugin.aclose()
            return fail(PROG, f"cannot register at {opts.registry}", exc)
    print(f"serving {address}", flush=True)

    await server.run_until_signalled(timeout=10)
    if plugin is not None:
        await plugin.aclose()  # the deletes the shutdown queued, then the connection
    return 0


if __name__ == "__main__":
    try:
        import uvloop  # optional: faster event loop
    except ImportError:
        sys.exit(asyncio.run(main()))
    else:
        sys.exit(uvloop.run(main()))
