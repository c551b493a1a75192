"""Headless Chromium driven over the Chrome DevTools Protocol, for the web console's tests.

Debian's ``chromium`` is started with a fresh profile in a temporary directory, on loopback only,
with ``--remote-debugging-port=0``; the port it chose is read from ``DevToolsActivePort`` in that
profile, and the page target's websocket is spoken to with wsproto over a plain socket (blocking:
the servers under test run in subprocesses). The browser is killed by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Ping, RejectConnection, Request

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


def chromium_path() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One headless browser with one page; :meth:`evaluate` runs JavaScript in it."""

    def __init__(self, profile: Path, timeout: float) -> None:
        exe = chromium_path()
        assert exe is not None
        self.timeout = timeout
        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port = self._port(profile / "DevToolsActivePort")
            page = self._page(port)
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            self.ws = WSConnection(ConnectionType.CLIENT)
            self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}", target=page)))
            self._recv_until(lambda ev: isinstance(ev, AcceptConnection))
        except BaseException:
            self.close()
            raise
        self._id = 0
        self._text = ""

    def _port(self, active: Path) -> int:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self.proc.returncode}")
            try:
                first = active.read_text().splitlines()[0]
                return int(first)
            except (OSError, IndexError, ValueError):
                time.sleep(0.05)
        raise TimeoutError("chromium wrote no DevToolsActivePort")

    def _page(self, port: int) -> str:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=self.timeout) as r:
                targets = json.load(r)
            for t in targets:
                if t.get("type") == "page":
                    url = t["webSocketDebuggerUrl"]
                    return "/" + url.split("/", 3)[3]
            time.sleep(0.05)
        raise TimeoutError("chromium has no page target")

    def _recv_until(self, done: Callable[[Any], bool]) -> Any:
        while True:
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)
            for ev in self.ws.events():
                if isinstance(ev, Ping):
                    self.sock.sendall(self.ws.send(ev.response()))
                elif isinstance(ev, (CloseConnection, RejectConnection)):
                    raise ConnectionError(f"devtools websocket closed: {ev}")
                elif isinstance(ev, Message):
                    self._text += ev.data if isinstance(ev.data, str) else ev.data.decode()
                    if not ev.message_finished:
                        continue
                    text, self._text = self._text, ""
                    ev = json.loads(text)
                if done(ev):
                    return ev
            if not data:
                raise ConnectionError("devtools websocket closed")

    def send(self, method: str, **params: Any) -> Any:
        """One DevTools command; its result (events in between are dropped)."""
        self._id += 1
        me = self._id
        self.sock.sendall(self.ws.send(Message(data=json.dumps({"id": me, "method": method, "params": params}))))
        reply = self._recv_until(lambda ev: isinstance(ev, dict) and ev.get("id") == me)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def evaluate(self, expression: str) -> Any:
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression!r} raised: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, what: str) -> Any:
        """Evaluate ``expression`` until it is truthy (the page works asynchronously)."""
        deadline = time.monotonic() + self.timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError as exc:  # the document is still being replaced, say
                value = exc
            if value and not isinstance(value, Exception):
                return value
            time.sleep(0.05)
        raise AssertionError(f"the page never showed {what} (last: {value!r})")

    def goto(self, url: str) -> None:
        assert url.startswith(("http://127.0.0.1:", "http://[::1]:")), "loopback only"
        self.send("Page.navigate", url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'", f"{url} loaded")

    def close(self) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None:
            sock.close()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
