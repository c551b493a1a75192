"""CodecRegistry: names, lazy built-ins, Go's error text, custom codecs, and missing extras."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from rpcx.codec import Codec, CodecRegistry, default_codecs
from rpcx.codec import base as codec_base
from rpcx.errors import CodecError
from rpcx.protocol import Message, SerializeType, encode, parse_frame


@pytest.mark.parametrize(
    ("name", "number"),
    [("raw", 0), ("none", 0), ("bytes", 0), ("json", 1), ("JSON", 1), ("protobuf", 2), ("pb", 2),
     ("msgpack", 3), ("MsgPack", 3), (5, 5), (SerializeType.MSGPACK, 3)],
)
def test_resolve(name: str | int, number: int) -> None:
    assert CodecRegistry.resolve(name) == number


def test_resolve_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown codec 'yaml'"):
        CodecRegistry.resolve("yaml")


@pytest.mark.parametrize(("number", "name"), [(0, "raw"), (1, "json"), (2, "protobuf"), (3, "msgpack")])
def test_builtin_codecs(number: int, name: str) -> None:
    if number == 2:
        pytest.importorskip("google.protobuf")
    if number == 3:
        pytest.importorskip("msgpack")
    reg = CodecRegistry()
    codec = reg.get(number)
    assert codec.serialize_type == number
    assert codec.name == name
    assert isinstance(codec, Codec)
    assert reg.get(number) is codec  # built once, then cached


@pytest.mark.parametrize("number", [4, 5, 9, 15])
def test_no_codec_has_go_error_text(number: int) -> None:
    with pytest.raises(CodecError) as info:
        CodecRegistry().get(number)
    assert str(info.value) == f"can not find codec for {number}"


def test_builtins_are_imported_lazily() -> None:
    code = (
        "import sys, json\n"
        "from rpcx.codec import CodecRegistry\n"
        "reg = CodecRegistry()\n"
        "before = 'msgpack' in sys.modules, 'rpcx.codec.msgpack' in sys.modules\n"
        "reg.get(1)\n"
        "mid = 'msgpack' in sys.modules\n"
        "reg.get(3)\n"
        "after = 'msgpack' in sys.modules, 'rpcx.codec.msgpack' in sys.modules\n"
        "print(json.dumps([before, mid, after]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    before, mid, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == [False, False]
    assert mid is False
    assert after == [True, True]


class Reverse:
    """A custom codec for serialize type 7: UTF-8 text, reversed on the wire."""

    serialize_type = 7
    name = "reverse"

    def encode(self, obj: Any) -> bytes:
        return str(obj)[::-1].encode()

    def decode(self, data: bytes, into: Any = None) -> Any:
        return data.decode()[::-1]


def test_custom_codec_type_7_round_trips_through_a_frame() -> None:
    reg = CodecRegistry()
    with pytest.raises(CodecError):
        reg.get(7)
    reg.register(Reverse())
    assert isinstance(reg.get(7), Reverse)
    req = Message(serialize_type=7, service_path="S", service_method="M", payload=reg.get(7).encode("hello"))
    wire = encode(req)
    assert wire[3] == 0x70
    assert wire.endswith(b"olleh")
    got = parse_frame(wire)
    assert reg.get(got.serialize_type).decode(got.payload) == "hello"


def test_registries_are_independent() -> None:
    a, b = CodecRegistry(), default_codecs()
    a.register(Reverse())
    assert a.get(7).name == "reverse"
    with pytest.raises(CodecError):
        b.get(7)
    with pytest.raises(CodecError):
        CodecRegistry().get(7)


def test_custom_codec_can_replace_a_builtin() -> None:
    class LoudJSON(Reverse):
        serialize_type = 1
        name = "loud"

    reg = CodecRegistry()
    reg.register(LoudJSON())
    assert reg.get(1).name == "loud"
    assert CodecRegistry().get(1).name == "json"


@pytest.mark.parametrize("number", [-1, 16, 255])
def test_register_outside_the_nibble_is_refused(number: int) -> None:
    bad = Reverse()
    bad.serialize_type = number
    with pytest.raises(ValueError):
        CodecRegistry().register(bad)


def test_missing_codec_module_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        codec_base._BUILTIN, SerializeType.MSGPACK, ("rpcx_no_such_module_for_tests", "MsgpackCodec", "msgpack")
    )
    with pytest.raises(CodecError) as info:
        CodecRegistry().get(3)
    text = str(info.value)
    assert "pip install" in text
    assert "rpcx-python[msgpack]" in text
    assert "rpcx_no_such_module_for_tests" in text
    assert isinstance(info.value.__cause__, ImportError)


def test_missing_dependency_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # as if msgpack were not installed: importing rpcx.codec.msgpack fails on `import msgpack`
    monkeypatch.delitem(sys.modules, "rpcx.codec.msgpack", raising=False)
    monkeypatch.setitem(sys.modules, "msgpack", None)
    reg = CodecRegistry()
    with pytest.raises(CodecError) as info:
        reg.get(3)
    assert "(msgpack)" in str(info.value)
    assert "pip install 'rpcx-python[msgpack]'" in str(info.value)
    # the failure is not cached: once the dependency is back, the codec loads
    monkeypatch.undo()
    assert reg.get(3).name == "msgpack"


def test_missing_protobuf_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "rpcx.codec.protobuf", raising=False)
    for mod in [m for m in sys.modules if m == "google.protobuf" or m.startswith("google.protobuf.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "google.protobuf", None)
    with pytest.raises(CodecError, match=r"pip install 'rpcx-python\[protobuf\]'"):
        CodecRegistry().get(2)
