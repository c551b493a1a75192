"""Hot reload: validated, swapped at once, no call in flight fails; an invalid file keeps the old
configuration; SIGHUP and file changes trigger it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from rpcx import Client
from rpcx.client import Option
from rpcx.protocol import FrameHeader
from rpcx.protocol.constants import SerializeType
from rpcx.proxy import ProxyApp

from .conftest import EchoUpstream

RAW = Option(serialize_type=SerializeType.NONE)
WAIT = 10.0


def write(path: Path, cluster: str, a: str, b: str, extra: str = "") -> None:
    path.write_text(
        "listen: tcp@127.0.0.1:0\n"
        f"clusters: {{a: {{servers: [{a}]}}, b: {{servers: [{b}]}}}}\n"
        f"default: {{cluster: {cluster}}}\n{extra}"
    )


async def two_upstreams() -> tuple[EchoUpstream, EchoUpstream]:
    a, b = EchoUpstream(), EchoUpstream()
    await a.start()
    await b.start()
    return a, b


async def test_reload_under_load_fails_no_call(tmp_path: Path) -> None:
    a, b = await two_upstreams()
    cfg = tmp_path / "proxy.yaml"
    write(cfg, "a", a.address, b.address)
    app = ProxyApp(str(cfg))
    [paddr] = await app.start()
    try:
        async with await Client.connect(paddr, RAW) as c:
            # calls held at upstream a while the configuration moves everything to b
            a.hold = True
            held = [asyncio.ensure_future(c.call("S", "M", f"held-{i}".encode())) for i in range(50)]
            async with asyncio.timeout(WAIT):
                while len(a.frames) < 50:
                    await asyncio.sleep(0.01)
            a.hold = False  # those 50 stay held; later calls to a are answered at once
            stop = False
            reloaded = False
            results: list[bytes | BaseException] = []
            after_reload: set[bytes] = set()  # bodies of calls begun once the first reload was done

            async def load(i: int) -> None:
                n = 0
                while not stop:
                    body = f"{i}-{n}".encode()
                    if reloaded:
                        after_reload.add(body)
                    try:
                        got = await c.call("S", "M", body)
                        results.append(got if got == body else AssertionError(f"{got!r} != {body!r}"))
                    except Exception as exc:  # noqa: BLE001 - counted as a failure below
                        results.append(exc)
                    n += 1

            async def progress(calls: int) -> None:
                target = len(results) + calls
                async with asyncio.timeout(WAIT):
                    while len(results) < target:
                        await asyncio.sleep(0.005)

            workers = [asyncio.ensure_future(load(i)) for i in range(20)]
            await progress(100)
            # cluster a goes away: its connections close once their calls are answered
            cfg.write_text(f"listen: tcp@127.0.0.1:0\nclusters: {{b: {{servers: [{b.address}]}}}}\n"
                           "default: {cluster: b}\n")
            assert await app.reload() is None
            reloaded = True
            await progress(100)
            write(cfg, "b", a.address, b.address, "access_log: {path: '%s'}\n" % (tmp_path / "log"))
            assert await app.reload() is None
            await progress(100)
            stop = True
            await asyncio.wait_for(asyncio.gather(*workers), WAIT)
            # the held calls still get their replies from a, whose connections then close
            for t, reply in a.held:
                t.write(reply)
            assert [await asyncio.wait_for(h, WAIT) for h in held] == [f"held-{i}".encode() for i in range(50)]
            failures = [r for r in results if isinstance(r, BaseException)]
            assert failures == [] and len(results) >= 300
            bodies_at_a = {f[FrameHeader.parse(f).payload_start:] for f in a.frames}
            bodies_at_b = {f[FrameHeader.parse(f).payload_start:] for f in b.frames}
            assert after_reload and after_reload <= bodies_at_b and not after_reload & bodies_at_a
            async with asyncio.timeout(WAIT):
                while not all(t.is_closing() for t in a.transports):
                    await asyncio.sleep(0.01)
            assert app.reloads == 2 and (tmp_path / "log").read_text().count("\n") > 0
    finally:
        await app.aclose()
        await a.aclose()
        await b.aclose()


async def test_invalid_file_keeps_the_old_configuration(tmp_path: Path) -> None:
    a, b = await two_upstreams()
    cfg = tmp_path / "proxy.yaml"
    write(cfg, "a", a.address, b.address)
    app = ProxyApp(str(cfg))
    [paddr] = await app.start()
    try:
        cfg.write_text(cfg.read_text().replace("cluster: a", "cluster: c"))
        error = await app.reload()
        assert error == f"{cfg}: default.cluster: unknown cluster 'c' (defined: a, b)"
        cfg.write_text("listen: [\n")
        assert (await app.reload() or "").startswith(f"{cfg}:2:1: not valid YAML")
        async with await Client.connect(paddr, RAW) as c:
            assert await c.call("S", "M", b"x") == b"x"
        assert len(a.frames) == 1 and app.reloads == 0
    finally:
        await app.aclose()
        await a.aclose()
        await b.aclose()


async def test_a_file_change_is_noticed(tmp_path: Path) -> None:
    a, b = await two_upstreams()
    cfg = tmp_path / "proxy.yaml"
    write(cfg, "a", a.address, b.address)
    app = ProxyApp(str(cfg))
    [paddr] = await app.start()
    watcher = asyncio.ensure_future(app.watch_file(0.02))
    try:
        write(cfg, "b", a.address, b.address, "# changed\n")
        async with asyncio.timeout(WAIT):
            while app.reloads == 0:
                await asyncio.sleep(0.02)
        async with await Client.connect(paddr, RAW) as c:
            assert await c.call("S", "M", b"y") == b"y"
        assert len(b.frames) == 1 and not a.frames
    finally:
        watcher.cancel()
        await app.aclose()
        await a.aclose()
        await b.aclose()


async def test_sighup_reloads_the_command_line_proxy(tmp_path: Path) -> None:
    a, b = await two_upstreams()
    cfg = tmp_path / "proxy.yaml"
    write(cfg, "a", a.address, b.address)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rpcx", "proxy", "-c", str(cfg), "--watch", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), WAIT)).decode().strip()
        assert line.startswith("serving "), line
        paddr = line.split(" ", 1)[1]
        async with await Client.connect(paddr, RAW) as c:
            assert await c.call("S", "M", b"1") == b"1"
            write(cfg, "b", a.address, b.address)
            os.kill(proc.pid, signal.SIGHUP)
            async with asyncio.timeout(WAIT):
                while not b.frames:
                    assert await c.call("S", "M", b"2") == b"2"
                    await asyncio.sleep(0.02)
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
        await a.aclose()
        await b.aclose()
