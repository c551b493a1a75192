"""``help()`` shows real signatures and a docstring for the codec API, the blocking clients and the CLI."""

from __future__ import annotations

import inspect
import pydoc
from typing import Any

import pytest

import rpcx.cli
import rpcx.codec
from rpcx.client import BlockingClient, BlockingXClient
from rpcx.codec.json import JSONCodec
from rpcx.codec.msgpack import MsgpackCodec
from rpcx.codec.raw import RawCodec


def _callables() -> list[tuple[str, Any]]:
    objs: list[tuple[str, Any]] = [(n, getattr(rpcx.codec, n)) for n in rpcx.codec.__all__]
    objs += [(n, getattr(rpcx.cli, n)) for n in rpcx.cli.__all__]
    objs += [("BlockingClient", BlockingClient), ("BlockingXClient", BlockingXClient),
             ("JSONCodec", JSONCodec), ("MsgpackCodec", MsgpackCodec), ("RawCodec", RawCodec)]
    out = []
    for name, o in objs:
        if inspect.isclass(o):
            out.append((name, o))
            out += [(f"{name}.{a}", v) for a, v in vars(o).items() if not a.startswith("_") and inspect.isfunction(v)]
        elif inspect.isfunction(o):
            out.append((name, o))
    return out


@pytest.mark.parametrize(("name", "obj"), _callables(), ids=[n for n, _ in _callables()])
def test_real_signature_and_docstring(name: str, obj: Any) -> None:
    assert inspect.getdoc(obj), f"{name} has no docstring"
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return
    if getattr(obj, "_is_protocol", False):
        return  # typing.Protocol classes are never called
    params = inspect.signature(obj).parameters.values()
    kinds = {p.kind for p in params}
    assert not (inspect.Parameter.VAR_POSITIONAL in kinds and inspect.Parameter.VAR_KEYWORD in kinds), name


def test_help_text_of_blocking_client_names_its_parameters() -> None:
    text = pydoc.render_doc(BlockingClient, renderer=pydoc.plaintext)
    assert "*args" not in text and "**kwargs" not in text
    for param in ("address", "option", "reply_type", "timeout", "metadata"):
        assert param in text


def test_type_markers_are_documented() -> None:
    text = pydoc.render_doc(rpcx.codec, renderer=pydoc.plaintext)
    for name in ("Int8", "Uint64", "Float32", "Duration", "Time", "FieldTypeError"):
        assert name in text
