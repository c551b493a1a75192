"""``rpcx list``: the services and servers a real registry holds, as Python servers publish them
(each backend: Redis, etcd, ZooKeeper), and its exit statuses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from rpcx import Server
from rpcx.registry import registry_plugin
from rpcx.testing.registry_conformance import RegistryCase

from arith_service import Arith
from rpcx.testing.harness import WAIT


async def rpcx(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "rpcx", *argv, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 6 * WAIT)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_list_shows_each_service_and_its_servers(registry_case: RegistryCase) -> None:
    base = registry_case.base_path()
    servers, plugins = [], []
    for weight in (1, 2):
        server = Server()
        plugin = registry_plugin(registry_case.url, base_path=base, **registry_case.options)
        server.add_plugin(plugin)
        server.register(Arith(), f"weight={weight}", name="Arith")
        if weight == 2:
            server.register(Arith(), "", name="Echo")
        await plugin.start(await server.start("tcp@127.0.0.1:0"))
        servers.append(server)
        plugins.append(plugin)
    try:
        code, out, err = await rpcx("list", "--registry", registry_case.url, "--base-path", base, "--json")
        assert code == 0, err
        assert json.loads(out) == {"Arith": {servers[0].address: "weight=1", servers[1].address: "weight=2"},
                                   "Echo": {servers[1].address: ""}}
        code, out, err = await rpcx("list", "--registry", registry_case.url, "--base-path", base)
        lines = out.splitlines()
        assert lines[0] == "Arith" and sorted(lines[1:3]) == sorted(
            [f"  {servers[0].address}  weight=1", f"  {servers[1].address}  weight=2"])
        assert lines[3:] == ["Echo", f"  {servers[1].address}"]
        code, out, err = await rpcx("list", "--registry", registry_case.url, "--base-path", base + "_none")
        assert (code, out) == (0, "") and "no services under" in err
    finally:
        for plugin, server in zip(plugins, servers):
            await plugin.aclose()
            await server.close()


async def test_list_exit_statuses() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    code, _, err = await rpcx("list", "--registry", f"redis://127.0.0.1:{dead}", "--timeout", "2")
    assert code == 1 and "is the registry running there?" in err and "Traceback" not in err
    code, _, err = await rpcx("list", "--registry", "eureka://127.0.0.1:1")
    assert code == 2 and "known are consul://" in err
    code, _, err = await rpcx("list")
    assert code == 2 and "--registry" in err
