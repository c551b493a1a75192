"""Profile the Python ``rpcx.Client`` alone, driving the Go rpcx server (no Python server in the process).

    .venv/bin/python bench/profile_client.py                  # cProfile, 64 callers / 4 connections
    .venv/bin/python bench/profile_client.py --callgrind      # instructions per call (valgrind)
    .venv/bin/python bench/profile_client.py --parts          # the per-call pieces one by one, timed
    .venv/bin/python bench/profile_client.py --parts --callgrind   # ... and their instructions

The server is bench/go/rpcxserver (built by bench/run.py or bench/client_run.py into
``RPCX_BENCH_BIN``), started on a free loopback port and stopped by PID. The load is
bench/py_client_load.py's, run in this process: 4 ``Client`` connections, 64 tasks, msgpack
``Arith.Mul`` with dataclass Args/Reply, on uvloop when installed.

* cProfile: own time per function over the measured calls, as µs per call and share, and the
  same grouped by stage (event loop, frame encode, codec, decoder, ...). cProfile inflates
  Python-heavy code; read the shares.
* ``--callgrind``: the client under ``valgrind --tool=callgrind``; ``os.getppid()`` marks the start
  and the end of the measured calls (``--dump-before=getppid``), so the dump between the marks
  holds exactly those calls. Instructions per call, split by shared object and by C function.
  User-space instructions only (the kernel's side of a syscall is not counted); repeatable to
  about a per cent on this noisy shared VM, where wall-clock timings are not.
* ``--parts``: each stage of a call in isolation (encode Args, build the frame, decode a reply
  frame, build Reply, a future round trip through the loop, asyncio.timeout), timed, and with
  ``--callgrind`` counted in instructions the same way (one marker between parts). These touch
  ``rpcx.protocol`` and ``rpcx.codec`` directly, not the Client's internals.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import glob
import io
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any, Callable

import _common
import py_client_load as load
import run as bench  # bench/run.py: read_line

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = bench.BIN


# -- the Go server --------------------------------------------------------------------------------------
class GoServer:
    def __init__(self) -> None:
        exe = os.path.join(BIN, "rpcxserver")
        if not os.path.exists(exe):
            sys.exit(f"{exe} missing: run bench/client_run.py once (it builds the Go programs)")
        self.proc = subprocess.Popen([exe, "-addr", "127.0.0.1:0"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True)  # fmt: skip
        try:
            line = bench.read_line(self.proc, 30)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            sys.exit(f"rpcxserver: {exc}")
        m = re.search(r"127\.0\.0\.1:\d+", line)
        if m is None:
            self.stop()
            sys.exit(f"rpcxserver: unexpected first line {line!r}")
        self.addr = m.group(0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> "GoServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_args(addr: str, calls: int, warmup: int, seconds: float, conc: int, pool: int) -> argparse.Namespace:
    return load.parse(["-addr", addr, "-n", str(calls), "-warmup", str(warmup), "-duration", str(seconds),
                       "-c", str(conc), "-pool", str(pool), "-stuck", "300"])  # fmt: skip


def marker() -> None:
    """A callgrind dump point (--dump-before=getppid): nothing else in the client calls getppid."""
    os.getppid()


# -- stages ---------------------------------------------------------------------------------------------
#: (stage, test on "file:function" of a cProfile entry), first match wins
STAGES: list[tuple[str, Callable[[str], bool]]] = [
    ("bench harness (py_client_load caller loop, latency list)", lambda k: "py_client_load" in k),
    # cProfile does not see uvloop's transport.write (a Cython method): its time, and the send
    # system call's, is the own time of the Python function that calls it
    ("transport write (Client._write: uvloop write + the send syscall)", lambda k: k.endswith("client.py:_write")),
    ("frame encode (protocol.message.encode)", lambda k: "protocol/message.py" in k and ":encode" in k),
    ("reply frame parse (FrameDecoder.feed, parse_frame)", lambda k: "protocol/decoder.py" in k
     or ("protocol/message.py" in k and "parse_frame" in k) or "split_frames" in k),
    ("Message objects (__init__, .error)", lambda k: "protocol/message.py" in k),
    ("msgpack + dataclass conversion (codec/_convert.py, codec/msgpack.py)", lambda k: "rpcx/codec/" in k
     or "msgpack" in k or "dataclass" in k or "<string>:" in k),
    ("client call path (call, build_request, send_raw, _decode_reply, _write)",
     lambda k: "client/client.py" in k and ("call" in k or "build_request" in k or "send_raw" in k
                                           or "_decode_reply" in k or "_write" in k)),
    ("reply dispatch (data_received, _dispatch, future.set_result)", lambda k: "client/client.py" in k
     or "set_result" in k),
    ("futures (create_future)", lambda k: "create_future" in k),
    ("asyncio.timeout", lambda k: "timeouts.py" in k),
]


def stage_of(key: str) -> str:
    for name, test in STAGES:
        if test(key):
            return name
    return "other (event loop, tasks, builtins)"


def cprofile_report(prof: cProfile.Profile, calls: int, top: int) -> None:
    st = pstats.Stats(prof)
    rows = []
    total = 0.0
    for (file, line, fn), (cc, nc, tt, ct, callers) in st.stats.items():  # type: ignore[attr-defined]
        key = f"{os.path.relpath(file, ROOT) if file.startswith('/') else file}:{fn}"
        rows.append((tt, nc, key))
        total += tt
    rows.sort(reverse=True)
    print(f"==== cProfile: own time, {calls} measured calls; total {total / calls * 1e6:.1f} µs per call "
          f"under the profiler ====")  # fmt: skip
    print(f"{'µs/call':>8} {'share':>6} {'n/call':>7}  function")
    for tt, nc, key in rows[:top]:
        print(f"{tt / calls * 1e6:8.2f} {100 * tt / total:5.1f}% {nc / calls:7.2f}  {key}")
    by: dict[str, float] = defaultdict(float)
    for tt, nc, key in rows:
        by[stage_of(key)] += tt
    print("\n==== by stage ====")
    for name, tt in sorted(by.items(), key=lambda kv: -kv[1]):
        print(f"{tt / calls * 1e6:8.2f} µs {100 * tt / total:5.1f}%  {name}")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    text = out.getvalue()
    print("\n==== by cumulative time ====")
    print(text[text.find("   ncalls") :])


def live_cprofile(a: argparse.Namespace) -> None:
    loop_name = _common.install_uvloop()
    with GoServer() as srv:
        prof = cProfile.Profile()
        la = load_args(srv.addr, a.calls, a.warmup, a.seconds, a.concurrency, a.pool)
        res = asyncio.run(load.main_async(la, loop_name, lambda on: prof.enable() if on else prof.disable()))
    print(f"loop: {loop_name}; server {srv.addr}; result under the profiler: {res}")
    cprofile_report(prof, max(res["calls"], 1), a.top)


# -- parts ---------------------------------------------------------------------------------------------
def parts(k: int, mark: bool) -> list[tuple[str, float]]:
    """Each stage of one call, ``k`` times, timed; a callgrind marker between stages when ``mark``."""
    from rpcx import Client, Option, SerializeType
    from rpcx.codec.base import CodecRegistry
    from rpcx.protocol.constants import MessageType
    from rpcx.protocol.decoder import FrameDecoder
    from rpcx.protocol.message import Message, encode

    codec = CodecRegistry().get(SerializeType.MSGPACK)
    args = load.Args(load.A, load.B)
    payload = codec.encode(args)
    # Go's reply: the request's header and route echoed, msgpack {"C": int64} (vmihailenco writes d3)
    reply_payload = b"\x81\xa1C\xd3" + (load.A * load.B).to_bytes(8, "big")
    assert codec.decode(reply_payload, load.Reply).C == load.A * load.B
    req = Message(service_path="Arith", service_method="Mul", seq=1, serialize_type=SerializeType.MSGPACK,
                  payload=payload)  # fmt: skip
    rframe = encode(Message(message_type=MessageType.RESPONSE, service_path="Arith", service_method="Mul", seq=1,
                            serialize_type=SerializeType.MSGPACK, payload=reply_payload))  # fmt: skip
    batch16 = rframe * 16
    out: list[tuple[str, float]] = []

    def timed(name: str, fn: Callable[[], Any], per: int = 1) -> None:
        if mark:
            marker()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        out.append((name, dt / (k * per) * 1e9))

    def p_encode_args() -> None:
        enc = codec.encode
        for _ in range(k):
            enc(args)

    def p_args_obj() -> None:
        cls = load.Args
        for _ in range(k):
            cls(12345, 6789)

    def p_message() -> None:
        for i in range(k):
            Message(oneway=False, serialize_type=3, compress_type=0, seq=i, service_path="Arith",
                    service_method="Mul", metadata={}, payload=payload)  # fmt: skip

    def p_frame() -> None:
        for _ in range(k):
            encode(req)

    def p_feed1() -> None:
        d = FrameDecoder()
        for _ in range(k):
            d.feed(rframe)

    def p_feed16() -> None:
        d = FrameDecoder()
        for _ in range(k // 16):
            d.feed(batch16)

    def p_decode_reply() -> None:
        dec = codec.decode
        R = load.Reply
        for _ in range(k):
            dec(reply_payload, R)

    async def a_future() -> None:
        # one call's scheduling: a future resolved by a callback the loop runs, awaited by a task
        loop = asyncio.get_running_loop()
        pending: dict[int, asyncio.Future[Any]] = {}

        def reply(i: int) -> None:
            pending.pop(i).set_result(None)

        for i in range(k):
            f = loop.create_future()
            pending[i] = f
            loop.call_soon(reply, i)
            await f

    async def a_timeout() -> None:
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        for _ in range(k):
            async with asyncio.timeout(5.0):
                await done

    async def a_noop() -> None:
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        for _ in range(k):
            await done

    # -- sketches: what a stage could cost in plain Python, specialised to this call (not rpcx code) --
    import struct

    import msgpack

    head = struct.Struct(">BBBBQI")  # magic, version, flags, serialize type, seq, total length
    u32 = struct.Struct(">I")
    route = b"".join((u32.pack(5), b"Arith", u32.pack(3), b"Mul"))  # cached per (service, method)
    packer = msgpack.Packer(use_bin_type=True, autoreset=True)

    def s_encode_args() -> None:
        pk = packer.pack
        for _ in range(k):
            pk({"A": args.A, "B": args.B})  # a per-dataclass encoder: field reads into a literal dict

    def s_frame() -> None:
        hp, up, j = head.pack, u32.pack, b"".join
        for i in range(k):
            j((hp(0x08, 0, 0, 0x30, i, len(route) + 8 + len(payload)), route, b"\x00\x00\x00\x00", up(len(payload)),
               payload))  # fmt: skip

    def s_parse() -> None:
        # a response only needs seq, status, metadata (errors) and payload; route bytes are skipped
        hu, uf = head.unpack_from, u32.unpack_from
        for _ in range(k):
            _m, _v, flags, _ser, _seq, _tot = hu(rframe, 0)
            pos = 16
            pos += 4 + uf(rframe, pos)[0]
            pos += 4 + uf(rframe, pos)[0]
            mdl = uf(rframe, pos)[0]
            pos += 4 + mdl
            rframe[pos + 4 :]
            flags & 3

    def s_decode_reply() -> None:
        R = load.Reply
        ub = msgpack.unpackb
        for _ in range(k):
            t = ub(reply_payload)
            c = t.get("C", 0)
            if type(c) is not int:
                raise TypeError
            R(C=c)

    timed("Args(A, B) dataclass construction", p_args_obj)
    timed("codec.encode(Args) -> msgpack payload (Converter.to_wire + Packer.pack)", p_encode_args)
    timed("Message(...) construction (request)", p_message)
    timed("protocol encode(Message) -> frame bytes", p_frame)
    timed("FrameDecoder.feed(one reply frame) -> [Message]", p_feed1)
    timed("FrameDecoder.feed(16 reply frames) per frame", p_feed16)
    timed("codec.decode(payload, Reply) (unpackb + Converter.from_wire)", p_decode_reply)
    timed("sketch: per-dataclass encoder, packer.pack({'A': a.A, 'B': a.B})", s_encode_args)
    timed("sketch: request frame from a cached route, no Message (struct + join)", s_frame)
    timed("sketch: response parse, seq/status/payload only (struct.unpack_from)", s_parse)
    timed("sketch: per-dataclass decoder, unpackb + type check + Reply(C=...)", s_decode_reply)
    for name, coro in (("future round trip through the loop (create_future, call_soon, set_result, await)", a_future),
                       ("asyncio.timeout(5) around an await of a done future", a_timeout),
                       ("bare await of a done future", a_noop)):  # fmt: skip
        if mark:
            marker()
        t0 = time.perf_counter()
        asyncio.run(coro())
        out.append((name, (time.perf_counter() - t0) / k * 1e9))
    if mark:
        marker()
    elif k >= 16:
        out += syscall_parts(k // 16, len(encode(req)))
    return out


def syscall_parts(rounds: int, frame_len: int) -> list[tuple[str, float]]:
    """A loopback TCP send of each request frame, against one send of 16 frames joined (what write
    coalescing would do), per frame; a thread drains the peer. Wall clock (the kernel's share is
    invisible to callgrind)."""
    import socket
    import threading

    lsn = socket.create_server(("127.0.0.1", 0))
    a = socket.create_connection(lsn.getsockname())
    b, _ = lsn.accept()
    lsn.close()
    stop = False

    def drain() -> None:
        while not stop:
            if not b.recv(1 << 20):
                return

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    frame = b"x" * frame_len
    out = []
    try:
        send = a.send
        t0 = time.perf_counter()
        for _ in range(rounds * 16):
            send(frame)
        out.append((f"syscall: send() of one {frame_len}-byte frame on loopback TCP", (time.perf_counter() - t0) / (rounds * 16) * 1e9))
        big = frame * 16
        t0 = time.perf_counter()
        for _ in range(rounds):
            send(big)
        out.append(("syscall: one send() of 16 frames joined, per frame", (time.perf_counter() - t0) / (rounds * 16) * 1e9))
    finally:
        stop = True
        a.close()
        t.join(5)
        b.close()
    return out


# -- callgrind ------------------------------------------------------------------------------------------
def cg_parse(path: str) -> tuple[int, dict[str, int], dict[str, int]]:
    """(total Ir, self Ir by object, self Ir by "function [object]") of one callgrind dump."""
    names: dict[str, dict[str, str]] = {"ob": {}, "fn": {}}
    total = 0
    by_ob: dict[str, int] = defaultdict(int)
    by_fn: dict[str, int] = defaultdict(int)
    ob = fn_ob = fn = "?"
    skip = False

    def name(kind: str, rest: str) -> str:
        m = re.match(r"\((\d+)\)(?: (.*))?$", rest)
        if not m:
            return rest
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), rest)

    with open(path) as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if skip:
                    skip = False
                    continue
                parts_ = line.split()
                if len(parts_) >= 2:
                    ir = int(parts_[1])
                    by_ob[fn_ob] += ir
                    by_fn[f"{fn} [{fn_ob}]"] += ir
                continue
            if line.startswith(("summary:", "totals:")):
                total = int(line.split(":")[1].split()[0])
                continue
            key, _, rest = line.rstrip("\n").partition("=")
            if key == "ob":
                ob = os.path.basename(name("ob", rest))
            elif key == "cob":
                name("ob", rest)
            elif key == "fn":
                fn, fn_ob = name("fn", rest), ob
            elif key == "cfn":
                name("fn", rest)
            elif key == "calls":
                skip = True
    return total, dict(by_ob), dict(by_fn)


def cg_inclusive(path: str, patterns: list[str]) -> dict[str, int]:
    """Inclusive Ir of the functions whose name matches a pattern, from callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, timeout=300).stdout  # fmt: skip
    res: dict[str, int] = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([\d.%\s]+\)\s+)?(\S.*)$", line)
        if not m:
            continue
        fn = m.group(2)
        for p in patterns:
            if re.search(p, fn) and p not in res:
                res[p] = int(m.group(1).replace(",", ""))
    return res


def run_callgrind(inner: list[str], tmp: str) -> list[str]:
    """Run this script's inner mode under callgrind; return the dump files in order."""
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    cmd = ["valgrind", "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={tmp}/cg.out.%p",
           sys.executable, os.path.abspath(__file__), *inner]  # fmt: skip
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, timeout=1800, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        sys.exit(f"callgrind run failed (rc={proc.returncode})")
    print(proc.stdout, end="")
    files = glob.glob(os.path.join(tmp, "cg.out.*.*"))
    return sorted(files, key=lambda p: int(p.rsplit(".", 1)[1]))


def callgrind_live(a: argparse.Namespace) -> None:
    with GoServer() as srv, tempfile.TemporaryDirectory(prefix="rpcx-cg-") as tmp:
        dumps = run_callgrind(["--inner-live", srv.addr, "--calls", str(a.calls), "--warmup", str(a.warmup),
                               "--concurrency", str(a.concurrency), "--pool", str(a.pool)], tmp)  # fmt: skip
        # dump 1: start-up and warm-up (before the first marker); dump 2: the measured calls
        if len(dumps) < 2:
            sys.exit(f"expected 2+ callgrind dumps, got {dumps}")
        total, by_ob, by_fn = cg_parse(dumps[1])
        calls = a.calls
        print(f"==== callgrind: {total / calls:,.0f} instructions per call (user space), {calls} calls, "
              f"{a.concurrency} callers / {a.pool} connections ====")  # fmt: skip
        print("\n-- by shared object (own instructions) --")
        for ob, ir in sorted(by_ob.items(), key=lambda kv: -kv[1])[:12]:
            print(f"{ir / calls:10,.0f} {100 * ir / total:5.1f}%  {ob}")
        print("\n-- top C functions (own instructions) --")
        for fn, ir in sorted(by_fn.items(), key=lambda kv: -kv[1])[: a.top]:
            print(f"{ir / calls:10,.0f} {100 * ir / total:5.1f}%  {fn}")
        inc = cg_inclusive(dumps[1], INCLUSIVE)
        print("\n-- inclusive instructions per call of selected C entry points --")
        for p in INCLUSIVE:
            if p in inc:
                print(f"{inc[p] / calls:10,.0f} {100 * inc[p] / total:5.1f}%  {p}")
        if a.keep:
            for d in dumps:
                shutil.copy(d, a.keep)
            print(f"\ndumps copied to {a.keep}")


#: C entry points whose inclusive cost is telling (regexes on callgrind_annotate's function column)
INCLUSIVE = [
    r"UVStream_write\b|UVStream\.write|__pyx_pw_6uvloop_4loop_8UVStream_\w*write\b",
    r"__pyx_f_6uvloop_4loop_8UVStream__try_write\b",
    r"__pyx_f_6uvloop_4loop_8UVStream__on_read\b|__pyx_f_6uvloop_4loop___uv_stream_buffered_on_read|uv__read\b",
    r"__pyx_f_6uvloop_4loop_4Loop__run\b|uv_run\b",
    r"uv__io_poll\b",
    r"^.*:Packer_pack|__pyx_pw_7msgpack_9_cmsgpack_6Packer_\w*pack\b",
    r"__pyx_pw_7msgpack_9_cmsgpack_\w*unpackb\b",
    r"split_frames\b",
    r"future_set_result|_asyncio_Future_set_result",
    r"task_step\b",
    r"task_wakeup\b",
    r"_PyObject_Malloc\b|^.*:malloc\b",
    r"\bsend\b|__send\b|__libc_send\b",
    r"\bwritev?\b|__libc_write\b",
]


def callgrind_parts(a: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="rpcx-cg-") as tmp:
        dumps = run_callgrind(["--inner-parts", "--calls", str(a.calls)], tmp)
        # dump 1: start-up; then one dump per part
        got = [cg_parse(d)[0] for d in dumps[1:]]
        names = [n for n, _ in parts(16, True)][: len(got)]  # (markers outside valgrind are no-ops)
        print(f"==== callgrind: instructions per operation ({a.calls} operations each) ====")
        for n, ir in zip(names, got):
            print(f"{ir / a.calls:10,.0f}  {n}")


# -- main -------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--callgrind", action="store_true", help="count instructions under valgrind --tool=callgrind")
    ap.add_argument("--parts", action="store_true", help="the stages of a call one by one")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--pool", type=int, default=4)
    ap.add_argument("--calls", type=int, help="measured calls (default 200000; callgrind 20000; parts 200000/20000)")
    ap.add_argument("--warmup", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=30.0, help="upper bound of the measured run (cProfile)")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--keep", help="copy the callgrind dumps into this directory")
    ap.add_argument("--inner-live", metavar="ADDR", help=argparse.SUPPRESS)
    ap.add_argument("--inner-parts", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.calls is None:
        a.calls = 20_000 if a.callgrind or a.inner_live or a.inner_parts else 200_000
    if a.inner_live:
        # under valgrind: the load, with a marker before and after the measured calls
        loop_name = _common.install_uvloop()
        la = load_args(a.inner_live, a.calls, a.warmup, 3600.0, a.concurrency, a.pool)
        res = asyncio.run(load.main_async(la, loop_name, lambda on: marker()))
        print(f"load under callgrind ({loop_name}): {res}")
        if res["calls"] != a.calls or res["errors"]:
            sys.exit(f"expected {a.calls} good calls, got {res}")
        return
    if a.inner_parts:
        _common.install_uvloop()
        parts(a.calls, True)
        return
    if a.callgrind:
        (callgrind_parts if a.parts else callgrind_live)(a)
    elif a.parts:
        loop_name = _common.install_uvloop()
        print(f"==== stages of one call, timed in isolation ({a.calls} each, {loop_name}) ====")
        for n, ns in parts(a.calls, False):
            print(f"{ns / 1e3:8.2f} µs  {n}")
    else:
        live_cprofile(a)


if __name__ == "__main__":
    main()
