"""``help()`` works on every public name of every package: a docstring, and a real signature
rather than ``(*args, **kwargs)``. (Members of ``typing.Protocol`` classes are described by their
class's docstring: they define an interface, and are never called.)"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

PACKAGES = ["rpcx", "rpcx.client", "rpcx.server", "rpcx.protocol", "rpcx.transport", "rpcx.codec",
            "rpcx.errors", "rpcx.testing", "rpcx.cli", "rpcx.oneline", "rpcx.gateway", "rpcx.gateway.standalone",
            "rpcx.gateway.console", "rpcx.gateway.fasthttp", "rpcx.gateway.http", "rpcx.dump", "rpcx.dump.pcap", "rpcx.dump.relay",
            "rpcx.proxy"]


def _public() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    seen: set[int] = set()
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if id(obj) in seen or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            seen.add(id(obj))
            out.append((f"{pkg}.{name}", obj))
            if inspect.isclass(obj) and not getattr(obj, "_is_protocol", False):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                        out.append((f"{pkg}.{name}.{attr}", member))
    return out


PUBLIC = _public()


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=[n for n, _ in PUBLIC])
def test_public_names_have_a_docstring_and_a_real_signature(name: str, obj: Any) -> None:
    assert inspect.getdoc(obj), f"{name} has no docstring"
    if isinstance(obj, property) or getattr(obj, "_is_protocol", False):
        return
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return  # a C type or an enum without an inspectable signature
    kinds = {p.kind for p in params}
    assert not (inspect.Parameter.VAR_POSITIONAL in kinds and inspect.Parameter.VAR_KEYWORD in kinds), name
