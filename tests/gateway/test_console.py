"""The gateway's web console: its JSON endpoints (in process), and the page itself in headless
Chromium, on the rpcx port (``rpcx serve --gateway --console``) and on the standalone gateway
(``rpcx gateway --console``): load the page, call Arith.Mul, see ``C: 200``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import WAIT
from headless import Chromium, chromium_path
from test_gateway import MUL, Http, request

from rpcx.client import Peer2PeerDiscovery
from rpcx.gateway import enable_gateway
from rpcx.gateway.standalone import StandaloneGateway

TESTS = Path(__file__).resolve().parent.parent
API = "/_rpcx/console/api/"
JSON_CT = {"Content-Type": "application/json"}


def call_body(service: str = "Arith", method: str = "Mul", args: Any = None, **more: Any) -> bytes:
    return json.dumps({"service": service, "method": method, "args": args or {"A": 10, "B": 20}, **more}).encode()


async def ask(addr: str, method: str, path: str, headers: dict[str, str] | None = None,
              body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    h = await Http.open(addr)
    try:
        await h.send(request(method, path, headers, body))
        return await h.answer()
    finally:
        await h.close()


async def test_console_is_off_by_default(server_factory) -> None:
    srv, addr = await server_factory()
    enable_gateway(srv)
    status, headers, body = await ask(addr, "GET", "/_rpcx/console/")
    # served as HTTP invoke of a service named by the path, as without a console
    assert "text/html" not in headers.get("content-type", "")
    assert headers["x-rpcx-messagestatustype"] == "Error"


async def test_page_and_static_files(server_factory) -> None:
    srv, addr = await server_factory()
    enable_gateway(srv, console=True)
    status, headers, body = await ask(addr, "GET", "/_rpcx/console/")
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert b'<script src="console.js">' in body and "script-src 'self'" in headers["content-security-policy"]
    status, headers, body = await ask(addr, "GET", "/_rpcx/console/console.js")
    assert (status, headers["content-type"]) == (200, "text/javascript; charset=utf-8") and b"api/call" in body
    # (one answer's headers, not two answers': their Date may be a second apart)
    status, headers, _ = await ask(addr, "GET", "/_rpcx/console")
    assert (status, headers["location"]) == (301, "/_rpcx/console/")
    assert (await ask(addr, "GET", "/_rpcx/console/nope.js"))[0] == 404
    assert (await ask(addr, "POST", "/_rpcx/console/", JSON_CT, b"{}"))[0] == 405


async def test_overview_lists_services_and_counts_every_gateway_call(server_factory) -> None:
    srv, addr = await server_factory()
    enable_gateway(srv, console=True)
    status, _, body = await ask(addr, "GET", API + "overview")
    doc = json.loads(body)
    assert (status, doc["kind"]) == (200, "server")
    [arith] = doc["services"]
    assert arith["name"] == "Arith" and {"Mul", "Add"} <= set(arith["methods"]) and "mul" not in arith["methods"]
    assert [s["address"] for s in doc["servers"]] == [addr] and doc["servers"][0]["state"] == "serving"
    assert (arith["calls"], arith["errors"]) == (0, 0)

    # HTTP invoke, the page's call endpoint and a failing call all count
    assert (await ask(addr, "POST", "/", MUL, b'{"A":2,"B":3}'))[2] == b'{"C":6}'
    status, headers, body = await ask(addr, "POST", API + "call", JSON_CT, call_body(meta="k=v"))
    out = json.loads(body)
    assert (status, out["ok"], out["reply"], out["error"]) == (200, True, {"C": 200}, None)
    assert out["seconds"] > 0 and out["metadata"] == {}
    out = json.loads((await ask(addr, "POST", API + "call", JSON_CT, call_body(method="Fail")))[2])
    assert (out["ok"], out["error"]) == (False, "arith failed on purpose")
    out = json.loads((await ask(addr, "POST", API + "call", JSON_CT, call_body(service="Nope")))[2])
    assert (out["ok"], out["error"]) == (False, "rpcx: can't find service Nope")

    doc = json.loads((await ask(addr, "GET", API + "overview"))[2])
    arith = next(s for s in doc["services"] if s["name"] == "Arith")
    assert arith["per_method"]["Mul"]["calls"] == 2 and arith["per_method"]["Mul"]["errors"] == 0
    assert arith["per_method"]["Fail"] == {**arith["per_method"]["Fail"], "calls": 1, "errors": 1}
    nope = next(s for s in doc["services"] if s["name"] == "Nope")  # seen only in traffic
    assert (nope["calls"], nope["errors"]) == (1, 1)
    assert (doc["servers"][0]["calls"], doc["servers"][0]["errors"]) == (4, 2)


async def test_call_endpoint_rejects_bad_requests_with_a_reason(server_factory) -> None:
    srv, addr = await server_factory()
    enable_gateway(srv, console=True)
    status, _, body = await ask(addr, "POST", API + "call", {"Content-Type": "text/plain"}, call_body())
    assert status == 415 and "application/json" in json.loads(body)["error"]
    for bad, why in ((b"{nope", "not JSON"), (b"[1]", "JSON object"), (b'{"service":"Arith"}', "required"),
                     (call_body(meta=[1]), "meta")):
        status, _, body = await ask(addr, "POST", API + "call", JSON_CT, bad)
        assert status == 400 and why in json.loads(body)["error"], bad
    assert (await ask(addr, "GET", API + "call"))[0] == 405
    # the connection's protocol is not chosen by console requests: JSON-RPC still works after one
    h = await Http.open(addr)
    await h.send(request("GET", API + "overview"))
    assert (await h.answer())[0] == 200
    await h.send(request(headers={"X-JSONRPC-2.0": "true"},
                         body=b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":4},"id":1}'))
    assert json.loads((await h.answer())[2])["result"] == {"C": 8}
    await h.close()


async def test_console_with_only_the_console_on(server_factory) -> None:
    srv, addr = await server_factory()
    enable_gateway(srv, disable_http_gateway=True, disable_jsonrpc=True, console=True)
    assert json.loads((await ask(addr, "POST", API + "call", JSON_CT, call_body()))[2])["reply"] == {"C": 200}
    h = await Http.open(addr)
    await h.send(request(headers=MUL, body=b'{"A":2,"B":3}'))
    assert await h.closed_by_server() == b""  # HTTP invoke is off: the connection is closed
    await h.close()


async def test_standalone_console_counts_per_server(server_factory) -> None:
    _, addr = await server_factory()
    gw = StandaloneGateway(Peer2PeerDiscovery(addr), console=True)
    try:
        gaddr = await gw.start("tcp@127.0.0.1:0")
        doc = json.loads((await ask(gaddr, "GET", API + "overview"))[2])
        assert doc["kind"] == "gateway" and doc["services"] == []
        assert [(s["address"], s["state"], s["calls"]) for s in doc["servers"]] == [(addr, "idle", 0)]
        assert json.loads((await ask(gaddr, "POST", API + "call", JSON_CT, call_body()))[2])["reply"] == {"C": 200}
        await ask(gaddr, "POST", "/", {**MUL, "X-RPCX-ServiceMethod": "Fail"}, b"{}")
        doc = json.loads((await ask(gaddr, "GET", API + "overview"))[2])
        [arith] = doc["services"]
        assert (arith["name"], arith["servers"], arith["calls"], arith["errors"]) == ("Arith", [addr], 2, 1)
        assert [(s["address"], s["state"], s["calls"], s["errors"]) for s in doc["servers"]] == [
            (addr, "connected", 2, 1)]
    finally:
        await gw.aclose()


# -- the page in a real browser ------------------------------------------------------------------
class Proc:
    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "rpcx", *argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, cwd=TESTS)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("serving "):
            self.stop()
            raise RuntimeError(f"rpcx {argv[0]} did not start: {line!r}")
        self.address = line.split(" ", 1)[1]
        self.url = "http://" + self.address.partition("@")[2]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    if chromium_path() is None:
        pytest.skip("chromium is not installed (Debian package chromium; .ci/registry-servers installs it)")
    b = Chromium(tmp_path / "profile", timeout=3 * WAIT)
    yield b
    b.close()


def call_mul_in_the_page(b: Chromium, url: str) -> None:
    b.goto(url + "/_rpcx/console/")
    b.wait_for("document.querySelector('#status').textContent.startsWith('updated')", "the overview loaded")
    b.evaluate("""(() => {
        document.getElementById('service').value = 'Arith';
        document.getElementById('method').value = 'Mul';
        document.getElementById('args').value = '{"A": 10, "B": 20}';
        document.getElementById('send').click();
    })()""")
    fields = b.wait_for("document.getElementById('result').hidden ? '' : document.getElementById('fields').innerText",
                        "the reply")
    assert fields.strip() == "C: 200"
    assert json.loads(b.evaluate("document.getElementById('reply').textContent")) == {"C": 200}
    assert b.evaluate("document.getElementById('outcome').textContent") == "ok"
    assert b.evaluate("document.getElementById('elapsed').textContent").endswith(("ms", "s"))
    assert b.evaluate("document.getElementById('error').textContent") == ""


def table(b: Chromium, which: str) -> list[list[str]]:
    return b.evaluate(f"""Array.from(document.querySelectorAll('#{which} tbody tr'))
                          .map(r => Array.from(r.cells).map(c => c.textContent))""")


def test_console_page_in_chromium_on_the_rpcx_port_and_on_the_standalone_gateway(browser: Chromium) -> None:
    server = Proc(["serve", "tcp@127.0.0.1:0", "arith_service:Arith", "--gateway", "--console"])
    gateway = None
    try:
        call_mul_in_the_page(browser, server.url)
        # the tables are refreshed after the call: Arith's row counts it, the server's too
        browser.wait_for("Array.from(document.querySelectorAll('#services tbody tr td:nth-child(4)'))"
                         ".some(td => td.textContent === '1')", "the call counted")
        [service] = table(browser, "services")
        assert service[0] == "Arith" and "Mul" in service[1].split(", ") and service[3:5] == ["1", "0"]
        [srv] = table(browser, "servers")
        assert (srv[0], srv[2], srv[3]) == (server.address, "serving", "1")

        gateway = Proc(["gateway", "tcp@127.0.0.1:0", "--registry", f"peer2peer://{server.address}", "--console"])
        call_mul_in_the_page(browser, gateway.url)
        browser.wait_for("Array.from(document.querySelectorAll('#servers tbody tr td:nth-child(3)'))"
                         ".some(td => td.textContent === 'connected')", "the server connected")
        [srv] = table(browser, "servers")
        assert (srv[0], srv[2], srv[3], srv[4]) == (server.address, "connected", "1", "0")
    finally:
        if gateway is not None:
            gateway.stop()
        server.stop()
