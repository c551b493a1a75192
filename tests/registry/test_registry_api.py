"""The registry interface without a registry: the scheme lookup, the missing-extra error, the
plugin's hooks (lifecycle only: the server keeps its fast path), the cache file."""

from __future__ import annotations

import json
import sys

import pytest

from rpcx import Server
from rpcx.client.discovery import KVPair
from rpcx.registry import BACKENDS, RegistryError, backend_for, registry_plugin
from rpcx.registry.base import DiscoveryCache, RegistryPlugin
from rpcx.server.plugins import PER_CALL_HOOKS


def test_plugin_keeps_the_fast_path() -> None:
    server = Server()
    plugin = registry_plugin("redis://127.0.0.1:6379", base_path="/rpcx_test")
    server.add_plugin(plugin)
    assert server.plugins.per_call is False
    assert not any(hasattr(plugin, h) for h in PER_CALL_HOOKS)
    server.register_function("Funcs", lambda args: args, "group=g")
    assert plugin.services == {"Funcs": "group=g"}
    server.unregister_all()
    assert plugin.services == {}


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(RegistryError, match="known are consul://, etcd://, redis://, zookeeper://"):
        backend_for("eureka://127.0.0.1:8761")


def test_missing_extra_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis now fails
    monkeypatch.delitem(sys.modules, "rpcx.registry.redis", raising=False)
    with pytest.raises(RegistryError, match=r"pip install 'rpcx-python\[redis\]'"):
        backend_for("redis://127.0.0.1:6379")


def test_every_backend_names_an_extra_that_exists() -> None:
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for scheme, (_, _, extra) in BACKENDS.items():
        assert extra in extras, scheme
        assert set(extras[extra]) <= set(extras["all"]), scheme


@pytest.mark.parametrize("address", ["tcp@0.0.0.0:8972", "tcp@[::]:8972", "8972"])
async def test_plugin_refuses_an_address_nobody_can_dial(address: str) -> None:
    plugin = registry_plugin("redis://127.0.0.1:1")
    with pytest.raises(ValueError, match="clients can dial"):
        await plugin.start(address)


def test_url_must_match_the_backend() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RegistryPlugin(backend_for("redis://"))


def test_cache_file_is_json_and_survives_garbage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "d.json"
    cache = DiscoveryCache(path)
    cache.save("redis://h:1/rpcx/A", [KVPair("tcp@127.0.0.1:1", "weight=1")])
    cache.save("redis://h:1/rpcx/B", [])
    assert json.loads(path.read_text())["redis://h:1/rpcx/A"] == [{"key": "tcp@127.0.0.1:1", "value": "weight=1"}]
    assert cache.load("redis://h:1/rpcx/B") == []
    assert cache.load("redis://h:1/rpcx/C") is None
    path.write_text("{not json")
    assert cache.load("redis://h:1/rpcx/A") is None
