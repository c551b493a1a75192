"""The interop contract's ``--registry URL`` / ``--base-path P`` on the Go peers, per real registry
(Redis, etcd, ZooKeeper): ``goserver-registry`` (goserver built with the registry tag, publishing
through Go's own plugin) is found and called by the Python example client with ``-``, and leaves
after its SIGTERM; the Python example server is found and called by ``goclient-registry - --registry``
through Go's own discovery. Both Go programs are tests/interop/build.sh's."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from rpcx.testing.harness import WAIT
from rpcx.testing.registry_conformance import RegistryCase

BIN = Path(os.environ.get("RPCX_INTEROP_BIN", Path.home() / ".cache" / "rpcx-python" / "interop-bin"))
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "arith"


def go_peer(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run tests/interop/build.sh (make test does)")
    return str(path)


async def run(*cmd: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT * 4)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def serve(*cmd: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), WAIT * 2)).decode()
    if not line.startswith("serving "):
        proc.kill()
        await proc.wait()
        pytest.fail(f"{cmd[0]} did not start: {line!r}")
    return proc, line.split()[1]


async def stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)  # by PID: ours
    return await asyncio.wait_for(proc.wait(), WAIT * 2)


async def test_python_client_finds_the_go_server(registry_case: RegistryCase) -> None:
    reg = ("--registry", registry_case.url, "--base-path", registry_case.base_path())
    go, address = await serve(go_peer("goserver-registry"), "tcp@127.0.0.1:0", *reg)
    try:
        assert address.startswith("tcp@127.0.0.1:")
        assert await run(sys.executable, str(EXAMPLES / "client.py"), "-", *reg) == (0, "10 * 20 = 200\n", "")
        assert await stop(go) == 0  # Go's Shutdown unregisters through the plugin
    finally:
        if go.returncode is None:
            go.kill()
            await go.wait()
    code, out, err = await run(sys.executable, str(EXAMPLES / "client.py"), "-", *reg)
    assert (code, out) == (1, "") and "Arith.Mul at" in err, err  # gone from the registry


async def test_go_client_finds_the_python_server(registry_case: RegistryCase) -> None:
    reg = ("--registry", registry_case.url, "--base-path", registry_case.base_path())
    py, address = await serve(sys.executable, str(EXAMPLES / "server.py"), "tcp@127.0.0.1:0", *reg)
    try:
        code, out, err = await run(go_peer("goclient-registry"), "-", *reg)
        assert (code, out) == (0, "10 * 20 = 200\n"), err
        # and the Go server found by the Go client, through the same contract
        go, _ = await serve(go_peer("goserver-registry"), "tcp@127.0.0.1:0", *reg)
        try:
            assert await stop(py) == 0  # only the Go server is left
            code, out, err = await run(go_peer("goclient-registry"), "-", *reg)
            assert (code, out) == (0, "10 * 20 = 200\n"), err
        finally:
            await stop(go)
    finally:
        await stop(py)


async def test_the_plain_go_peers_say_which_build_takes_registry() -> None:
    code, _, err = await run(go_peer("goserver"), "tcp@127.0.0.1:0", "--registry", "redis://127.0.0.1:1")
    assert code == 2 and "goserver-registry" in err, err
    code, _, err = await run(go_peer("goclient"), "-", "--registry", "redis://127.0.0.1:1")
    assert code == 2 and "goclient-registry" in err, err
    code, _, err = await run(go_peer("goclient-registry"), "-")
    assert code == 2 and "exactly when --registry" in err, err
    code, _, err = await run(go_peer("goserver-registry"), "tcp@127.0.0.1:0", "--registry", "ftp://127.0.0.1:1")
    assert code == 1 and "--registry must be" in err, err
