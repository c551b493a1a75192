"""Every row of docs/types.md crosses between Go and Python and back, under MessagePack and JSON.

Go -> Python -> Go: ``gotypes check`` sends each sample of tests/interop/types/types.go to a Python
server's ``Types.Echo`` and compares the echo with ``reflect.DeepEqual`` against the same sample
after a trip through Go's own codec. Python -> Go -> Python: a Python client sends the twin
samples of types_service.py to the Go server's ``Types.Echo`` and compares with ``==``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rpcx.client import Client, Option
from rpcx.codec import FieldTypeError
from rpcx.errors import ServiceError
from rpcx.protocol import SerializeType

from .conftest import Peer, start
from .types_service import Everything, Item, sample_items, samples

HERE = Path(__file__).resolve().parent
CODECS = {"msgpack": SerializeType.MSGPACK, "json": SerializeType.JSON}


@pytest.fixture
def py_types_server():
    peer = start([sys.executable, str(HERE / "types_service.py"), "tcp@127.0.0.1:0"])
    yield peer
    assert peer.stop() == 0


@pytest.fixture
def go_types_server(go_bin: Path):
    peer: Peer = start([str(go_bin / "gotypes"), "serve", "tcp@127.0.0.1:0"])
    yield peer
    peer.stop()


def _results(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("ok", "FAIL"):
            out[rest.split(":", 1)[0]] = word
    return out


@pytest.mark.parametrize("codec", list(CODECS))
def test_go_values_echoed_by_python_are_deep_equal(go_bin: Path, py_types_server: Peer, codec: str) -> None:
    out = subprocess.run([str(go_bin / "gotypes"), "check", py_types_server.address, "--codec", codec, "--refuse"],
                         capture_output=True, text=True, timeout=120)
    got = _results(out.stdout)
    expected = {f"echo_{n}": "ok" for n in ("full", "nil", "empty", "min", "max")}
    expected |= {f"echo_item_{n}": "ok" for n in ("time", "nil", "empty")}
    expected |= {n: "ok" for n in ("refuse_int8_overflow", "refuse_float_in_int", "refuse_number_in_bytes")}
    assert got == expected, out.stdout + out.stderr
    assert out.returncode == 0


@pytest.mark.parametrize("codec", list(CODECS))
async def test_python_values_echoed_by_go_are_equal(go_types_server: Peer, codec: str) -> None:
    async with await Client.connect(go_types_server.address, Option(serialize_type=CODECS[codec])) as c:
        for name, value in samples().items():
            back = await c.call("Types", "Echo", value, Everything, timeout=10)
            assert back == value, name
        for name, item in sample_items().items():
            back = await c.call("Types", "EchoItem", item, Item, timeout=10)
            assert back == item, name


@pytest.mark.parametrize("codec", list(CODECS))
async def test_go_server_refuses_what_its_json_refuses(go_types_server: Peer, codec: str) -> None:
    """Go's JSON decoder names the field; our encoder refuses the same values before sending."""
    async with await Client.connect(go_types_server.address, Option(serialize_type=CODECS[codec])) as c:
        with pytest.raises(FieldTypeError, match=r"Go struct field Everything\.I8 of type int8"):
            await c.call("Types", "Echo", Everything(I8=300), Everything, timeout=10)
        with pytest.raises(FieldTypeError, match=r"Go struct field Everything\.Bytes of type \[\]uint8"):
            await c.call("Types", "Echo", Everything(Bytes="not bytes"), Everything, timeout=10)  # type: ignore[arg-type]
        if codec == "json":
            with pytest.raises(ServiceError, match=r"cannot unmarshal number 5\.5 into Go struct field Everything\.I of type int"):
                await c.call("Types", "Echo", {"I": 5.5}, Everything, timeout=10)
