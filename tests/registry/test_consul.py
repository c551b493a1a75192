"""The Consul backend's pure parts, checked against Consul's HTTP API documentation and Go's
libkv consul store. NOT a test against Consul: no agent can be had here, and a fake of the API
would prove nothing about Consul, so there is none. What needs an agent is untested."""

from __future__ import annotations

import base64
import json

import pytest

from rpcx.client.discovery import KVPair
from rpcx.registry import RegistryUnavailableError, backend_for, registry_discovery
from rpcx.registry.base import DiscoveryCache, RegistryError
from rpcx.registry.consul import (
    ConsulBackend,
    children,
    consul_key,
    decode_kv_list,
    kv_path,
    next_index,
    session_body,
)
from rpcx.testing.registry_conformance import free_port

# the response example of "Read Key" in Consul's KV store API documentation (?recurse form)
DOC_KV_LIST = """[
  {
    "CreateIndex": 100,
    "ModifyIndex": 200,
    "LockIndex": 200,
    "Key": "zip",
    "Flags": 0,
    "Value": "dGVzdA==",
    "Session": "adf4238a-882b-9ddc-4a9d-5b6758e4159e"
  }
]"""


def test_documented_listing_decodes() -> None:
    assert decode_kv_list(json.loads(DOC_KV_LIST)) == [("zip", "test")]


def test_rpcx_listing_gives_direct_children_with_raw_metadata() -> None:
    # what Go's rpcx-consul leaves under /rpcx_test: the base path, the service, two servers
    def entry(key: str, value: str | None) -> dict[str, object]:
        v = None if value is None else base64.b64encode(value.encode()).decode()
        return {"CreateIndex": 5, "ModifyIndex": 9, "LockIndex": 1, "Key": key, "Flags": 0, "Value": v}

    data = [entry("rpcx_test", "rpcx_path"), entry("rpcx_test/Arith", "Arith"),
            entry("rpcx_test/Arith/tcp@127.0.0.1:8973", None),
            entry("rpcx_test/Arith/tcp@127.0.0.1:8972", "weight=2&group=a")]
    assert children("/rpcx_test/Arith", decode_kv_list(data)) == [
        KVPair("tcp@127.0.0.1:8972", "weight=2&group=a"),
        KVPair("tcp@127.0.0.1:8973", ""),
    ]


@pytest.mark.parametrize(
    "bad, why", [({"Key": "k"}, "JSON array"), ("[]", "JSON array"), ([{"Value": "dGVzdA=="}], "Key"), (["k"], "Key")]
)
def test_a_listing_not_in_consul_format_is_an_error(bad: object, why: str) -> None:
    with pytest.raises(RegistryError, match=why):
        decode_kv_list(bad)


def test_keys_and_paths_as_libkv_writes_them() -> None:
    assert consul_key("/rpcx/Arith") == "rpcx/Arith"
    assert consul_key("rpcx/Arith") == "rpcx/Arith"
    # characters a service path may hold are escaped; / @ : stay as Go's client sends them
    assert kv_path("/rpcx/A b?c/tcp@[::1]:1") == "/v1/kv/rpcx/A%20b%3Fc/tcp@%5B::1%5D:1"
    assert kv_path("/rpcx/Arith", recurse=None) == "/v1/kv/rpcx/Arith?recurse"


def test_session_is_half_the_ttl_with_delete_behaviour() -> None:
    assert session_body(60) == {"Name": "rpcx", "Behavior": "delete", "TTL": "30s", "LockDelay": "1ms"}
    assert session_body(25)["TTL"] == "12.5s"


def test_blocking_index_rules() -> None:
    assert next_index(0, "0") == 0
    assert next_index(0, "junk") == 0
    assert next_index(10, "11") == 11


def test_scheme_selects_the_backend() -> None:
    b = backend_for("consul://127.0.0.1:8500", wait=5)
    assert isinstance(b, ConsulBackend) and b.wait == 5


async def test_no_agent_is_a_clear_error_at_start() -> None:
    url = f"consul://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(RegistryUnavailableError, match=url):
        await registry_discovery(url, "Arith", connect_timeout=1)


async def test_no_agent_but_a_cache_serves_the_cached_list(tmp_path: object) -> None:
    url = f"consul://127.0.0.1:{free_port()}"
    path = f"{tmp_path}/d.json"
    DiscoveryCache(path).save(f"{url}/rpcx/Arith", [KVPair("tcp@127.0.0.1:8972", "weight=1")])
    d = await registry_discovery(url, "Arith", cache=path, connect_timeout=1)
    try:
        assert d.get_services() == [KVPair("tcp@127.0.0.1:8972", "weight=1")]
    finally:
        await d.aclose()
