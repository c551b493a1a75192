"""A network namespace for tests whose mDNS must not be seen by anyone else (layer: tests).

The ``netns`` fixture makes a fresh namespace holding nothing but ``lo`` (up, multicast on, plus
169.254.77.1/32: grandcat/zeroconf leaves loopback addresses out of its A record, and rpcx's Go
mDNS plugin refuses to start without one). It is held by one ``sleep`` process started with
``unshare -n`` and killed by PID afterwards; commands join it with ``nsenter``. Without root or
``unshare`` (namespaces cannot be made) the test is skipped, naming why; a missing ``nsenter`` or
``ip`` fails it, naming the package.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from typing import AsyncIterator

import pytest

from rpcx.testing.harness import WAIT

__all__ = ["LINK_LOCAL", "Namespace", "netns"]

LINK_LOCAL = "169.254.77.1"
SETUP = (
    f"ip link set lo up && ip link set lo multicast on && ip addr add {LINK_LOCAL}/32 dev lo"
    " && echo ready && exec sleep 600"  # the namespace lives as long as this process (killed by PID)
)


class Namespace:
    """A network namespace held by one process; commands join it with nsenter."""

    def __init__(self, holder: subprocess.Popen[bytes]) -> None:
        self.holder = holder
        self.path = f"/proc/{holder.pid}/ns/net"

    def argv(self, *cmd: str) -> list[str]:
        # the guard the tests rest on: never let a Go mDNS peer (or our mDNS) into the root namespace
        assert os.readlink(self.path) != os.readlink("/proc/self/ns/net"), "not a separate network namespace"
        return ["nsenter", f"--net={self.path}", "--", *cmd]

    async def status(self, *cmd: str) -> tuple[int, str, str]:
        """Run ``cmd`` in the namespace: ``(exit status, stdout, stderr)``."""
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*cmd), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 3 * WAIT)  # over goregistry's own --wait
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def run(self, *cmd: str) -> str:
        """Run ``cmd`` in the namespace; its stdout, once it exited 0."""
        code, out, err = await self.status(*cmd)
        assert code == 0, f"{' '.join(cmd)} failed in the namespace: {err}"
        return out

    async def start(self, *cmd: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self.argv(*cmd), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )


@pytest.fixture
async def netns() -> AsyncIterator[Namespace]:
    if os.geteuid() != 0:
        pytest.skip("cannot make a network namespace here: not root")
    if shutil.which("unshare") is None:
        pytest.skip("cannot make a network namespace here: no unshare (util-linux)")
    for tool, package in (("nsenter", "util-linux"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: install the Debian package {package!r} (.ci/registry-servers does)")
    holder = subprocess.Popen(["unshare", "-n", "sh", "-c", SETUP], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), WAIT)
        if line != b"ready\n":
            holder.wait(WAIT)
            assert holder.stderr is not None
            err = holder.stderr.read().decode()
            if "unshare" in err and "Operation not permitted" in err:
                pytest.skip(f"cannot make a network namespace here: {err.strip()}")
            pytest.fail(f"namespace setup failed: {err}")
        ns = Namespace(holder)
        links = await ns.run("ip", "-o", "link")
        assert [ln.split(":")[1].strip() for ln in links.splitlines()] == ["lo"], links  # nothing to leak onto
        yield ns
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
