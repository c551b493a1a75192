"""The proxy's own Python cost per forwarded call, without the kernel: fake transports, no sockets.

    .venv/bin/python bench/proxy_hotpath.py [--calls 100000] [--batch 1,16] [--profile]

A proxy built as ``rpcx proxy`` builds it (one cluster, one server, the default route) gets its
client connection and its upstream connections over fake transports (the upstream dial is
replaced by one that hands the connection a fake transport at once). Each round feeds ``batch``
request frames (581-byte payloads, as the Go benchmark's) to the client connection in one read,
lets the loop turn end (the turn writer writes the upstream frames), answers every frame the
upstream got with itself plus the Response bit in one read, and lets the turn end again (the
replies go to the client). Printed: microseconds of this process's CPU per call, which is every
line of Python (and C) the proxy runs for a call, and nothing of the kernel's TCP work or the
wake-ups that dominate a real run (see bench/profile_proxy.py and docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from typing import Any

from rpcx.protocol.decoder import FrameDecoder, Limits
from rpcx.protocol.message import Message, encode


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []

    def write(self, data: Any) -> None:
        self.out.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


async def run(calls: int, batch: int, prof: cProfile.Profile | None) -> float:
    import rpcx.proxy.upstream as upstream_mod
    from rpcx.proxy.app import build_proxy
    from rpcx.proxy.config import parse_config
    from rpcx.proxy.downstream import DownstreamConnection

    ups: list[tuple[Any, FakeTransport]] = []

    async def fake_dial(addr: Any, factory: Any, **kw: Any) -> None:
        proto, tr = factory(), FakeTransport()
        ups.append((proto, tr))
        proto.connection_made(tr)

    upstream_mod.dial = fake_dial  # type: ignore[assignment]
    cfg = parse_config({"listen": "tcp@127.0.0.1:0", "clusters": {"go": {"servers": ["tcp@127.0.0.1:9"]}},
                        "default": {"cluster": "go"}})
    proxy = await build_proxy(cfg)
    proxy._loop = asyncio.get_running_loop()
    for c in proxy.clusters.values():
        await c.start(proxy)
    down = DownstreamConnection(proxy)
    dtr = FakeTransport()
    down.connection_made(dtr)
    payload = bytes(range(256)) * 2 + bytes(69)  # 581 bytes
    reqs = [encode(Message(service_path="Hello", service_method="Say", seq=i, payload=payload)) for i in range(batch)]
    chunk = b"".join(reqs)
    dec = FrameDecoder(Limits(0, 0))

    async def one_round() -> None:
        down.data_received(chunk)
        got = 0
        for _ in range(1000):
            await asyncio.sleep(0)  # the turn ends: the turn writer writes what the proxy buffered
            for up, tr in ups:
                if tr.out:
                    replies = []
                    for f in dec.feed_frames(b"".join(tr.out)):
                        r = bytearray(f)
                        r[2] |= 0x80
                        replies.append(r)
                    tr.out.clear()
                    up.data_received(b"".join(replies))
            if dtr.out:
                got += len(dec.feed_frames(b"".join(dtr.out)))
                dtr.out.clear()
                if got == batch:
                    return
        raise RuntimeError(f"{got} of {batch} replies")

    for _ in range(200):  # warm up: the dials happen here
        await one_round()
    rounds = max(1, calls // batch)
    if prof is not None:
        prof.enable()
    t0 = time.process_time()
    for _ in range(rounds):
        await one_round()
    cpu = time.process_time() - t0
    if prof is not None:
        prof.disable()
    await proxy.aclose()
    return 1e6 * cpu / (rounds * batch)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--calls", type=int, default=100000)
    p.add_argument("--batch", default="1,16")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=30)
    a = p.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    for b in (int(x) for x in a.batch.split(",")):
        prof = cProfile.Profile() if a.profile else None
        us = runner(run(a.calls, b, prof))
        print(f"batch {b:3d}: {us:.2f} µs of CPU per call (harness included)")
        if prof is not None:
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(a.top)
            print(s.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
