"""The curated public names: each ``__all__`` lists only names that exist, are public, and are unique."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

PACKAGES = ["rpcx", "rpcx.protocol", "rpcx.client", "rpcx.server", "rpcx.codec", "rpcx.errors", "rpcx.transport", "rpcx.testing",
            "rpcx.plugins", "rpcx.gateway", "rpcx.proxy"]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    mod = _module(name)
    exported = list(mod.__all__)
    assert exported, f"{name}.__all__ is empty"
    missing = [n for n in exported if not hasattr(mod, n)]
    assert missing == [], f"{name}.__all__ lists missing names {missing}"


@pytest.mark.parametrize("name", PACKAGES)
def test_no_private_names_exported(name: str) -> None:
    private = [n for n in _module(name).__all__ if n.startswith("_") and n != "__version__"]
    assert private == [], f"{name}.__all__ exports private names {private}"


@pytest.mark.parametrize("name", PACKAGES)
def test_no_duplicates(name: str) -> None:
    exported = list(_module(name).__all__)
    assert len(exported) == len(set(exported))
    assert all(isinstance(n, str) for n in exported)


@pytest.mark.parametrize("name", PACKAGES)
def test_star_import_gives_exactly_all(name: str) -> None:
    ns: dict[str, object] = {}
    exec(f"from {name} import *", ns)  # noqa: S102
    ns.pop("__builtins__", None)
    assert set(ns) == set(_module(name).__all__)


@pytest.mark.parametrize("name", ["rpcx.protocol", "rpcx.client", "rpcx.server"])
def test_subpackage_exports_are_defined_inside_rpcx(name: str) -> None:
    mod = _module(name)
    for n in mod.__all__:
        obj = getattr(mod, n)
        origin = getattr(obj, "__module__", None)
        if origin is not None and isinstance(obj, type):
            assert origin.startswith("rpcx."), f"{name}.{n} comes from {origin}"


def test_top_level_reexports_are_the_same_objects() -> None:
    import rpcx
    import rpcx.client
    import rpcx.errors
    import rpcx.protocol
    import rpcx.server

    for n in rpcx.__all__:
        if n == "__version__":
            continue
        obj = getattr(rpcx, n)
        homes = [m for m in (rpcx.client, rpcx.server, rpcx.protocol, rpcx.errors) if n in getattr(m, "__all__", ())]
        assert homes, f"rpcx.{n} is not exported by any subpackage"
        assert all(getattr(m, n) is obj for m in homes), n


def test_version_is_a_string() -> None:
    import rpcx

    assert isinstance(rpcx.__version__, str) and rpcx.__version__
