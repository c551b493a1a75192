"""The Consul registry, over Consul's documented HTTP API with httpx (layer: registry).

**UNTESTED AGAINST A REAL CONSUL AGENT.** No agent can be had where this was written; this module
follows Consul's HTTP API documentation (``/v1/kv``, ``/v1/session``) and Go's rpcxio/rpcx-consul
(libkv's consul store). Only its pure parts (keys, URLs, session bodies, response decoding against
the documentation's examples) are tested. Treat it as unproven until run against an agent.

Go's rule, kept so Go and Python could share one Consul: a key ``/rpcx/Arith/tcp@h:p`` is stored
without its leading slash (libkv's ``normalize``), the value is the raw metadata (the API returns it
in base64), and liveness is a session: ``PUT /v1/session/create`` with ``Behavior: delete`` and
``TTL`` = half the entry's ttl (Consul waits up to twice a session's TTL; libkv halves it too;
Consul's minimum is 10 s), renewed every update interval with ``PUT /v1/session/renew/<id>``, the
entries written with ``PUT /v1/kv/<key>?acquire=<session>``. A directory is listed with ``GET
/v1/kv/<dir>?recurse`` and watched with the same request made blocking (``index=N&wait=...``,
``N`` from the ``X-Consul-Index`` header).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, AsyncIterator
from urllib.parse import quote, urlencode

import httpx

from ..client.discovery import KVPair
from .base import Backend, RegistryError, RegistryUnavailableError

__all__ = [
    "ConsulBackend",
    "consul_key",
    "kv_path",
    "session_body",
    "decode_kv_list",
    "children",
    "next_index",
]

#: Consul refuses a session TTL below 10 s
MIN_SESSION_TTL = 10.0


def consul_key(key: str) -> str:
    """libkv's consul ``normalize``: no leading slash.

    >>> consul_key("/rpcx/Arith/tcp@127.0.0.1:8972")
    'rpcx/Arith/tcp@127.0.0.1:8972'
    """
    return key.lstrip("/")


def kv_path(key: str, **params: str | int | None) -> str:
    """The ``/v1/kv/...`` request path for a Go key, with query parameters (``None``: a flag
    without value, as Consul writes ``?recurse``).

    >>> kv_path("/rpcx/Arith/tcp@127.0.0.1:8972", acquire="adf4238a-882b-9ddc-4a9d-5b6758e4159e")
    '/v1/kv/rpcx/Arith/tcp@127.0.0.1:8972?acquire=adf4238a-882b-9ddc-4a9d-5b6758e4159e'
    >>> kv_path("/rpcx/Arith", recurse=None, index=42, wait="30s")
    '/v1/kv/rpcx/Arith?recurse&index=42&wait=30s'
    """
    path = "/v1/kv/" + quote(consul_key(key), safe="/@:")
    query = [k if v is None else urlencode({k: v}) for k, v in params.items()]
    return path + ("?" + "&".join(query) if query else "")


def session_body(ttl: float) -> dict[str, Any]:
    """``PUT /v1/session/create``'s body for entries that must outlive their server by ``ttl``.

    >>> session_body(20)
    {'Name': 'rpcx', 'Behavior': 'delete', 'TTL': '10s', 'LockDelay': '1ms'}
    >>> session_body(4)['TTL']   # Consul's minimum
    '10s'
    """
    seconds = max(MIN_SESSION_TTL, ttl / 2)
    return {"Name": "rpcx", "Behavior": "delete", "TTL": f"{seconds:g}s", "LockDelay": "1ms"}


def decode_kv_list(data: Any) -> list[tuple[str, str]]:
    """``(key, value)`` of a ``GET /v1/kv/...?recurse`` response; a null value (a key written
    without a body) is ``""``. ``RegistryError`` when it is not Consul's format.

    >>> decode_kv_list([{"CreateIndex": 100, "ModifyIndex": 200, "LockIndex": 200, "Key": "zip",
    ...                  "Flags": 0, "Value": "dGVzdA==", "Session": "adf4238a-882b-9ddc-4a9d-5b6758e4159e"}])
    [('zip', 'test')]
    """
    if not isinstance(data, list):
        raise RegistryError(f"consul: a KV listing is a JSON array, got {type(data).__name__}")
    out = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("Key"), str):
            raise RegistryError(f"consul: a KV entry without a Key: {entry!r}")
        raw = entry.get("Value")
        out.append((entry["Key"], base64.b64decode(raw).decode() if raw else ""))
    return out


def children(directory: str, entries: list[tuple[str, str]]) -> list[KVPair]:
    """The direct children of a Go directory among listed ``(consul key, value)``, sorted.

    >>> children("/rpcx/Arith", [("rpcx/Arith", "Arith"), ("rpcx/Arith/tcp@h:2", "b"),
    ...                          ("rpcx/Arith/tcp@h:1", "a"), ("rpcx/Arith/x/y", "deep"), ("rpcx/ArithX/k", "no")])
    [KVPair(key='tcp@h:1', value='a'), KVPair(key='tcp@h:2', value='b')]
    """
    prefix = consul_key(directory).rstrip("/") + "/"
    pairs = [
        KVPair(k[len(prefix) :], v)
        for k, v in entries
        if k.startswith(prefix) and k[len(prefix) :] and "/" not in k[len(prefix) :]
    ]
    return sorted(pairs, key=lambda p: p.key)


def next_index(previous: int, header: str | None) -> int:
    """The ``index`` of the next blocking query, from ``X-Consul-Index`` (the documented rules:
    must be a positive integer; when it goes backwards, e.g. after a snapshot restore, start again
    from 0).

    >>> next_index(0, "42"), next_index(42, "42"), next_index(42, "7"), next_index(5, None)
    (42, 42, 0, 0)
    """
    try:
        index = int(header) if header is not None else 0
    except ValueError:
        return 0
    if index <= 0 or index < previous:
        return 0
    return index


class ConsulBackend(Backend):
    """Go rpcx-consul's store (UNTESTED against a real agent). URL: ``consul://host:port`` (8500).

    >>> ConsulBackend("consul://127.0.0.1:8500").endpoints
    ['127.0.0.1:8500']
    """

    scheme = "consul"

    def __init__(self, url: str, *, connect_timeout: float = 5.0, wait: float = 30.0) -> None:
        super().__init__(url, connect_timeout=connect_timeout)
        #: how long one blocking watch request may wait
        self.wait = wait
        self._http: httpx.AsyncClient | None = None
        self._session: str | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=f"http://{self.endpoints[0]}",
                # a blocking query may take up to wait + wait/16 (Consul's jitter)
                timeout=httpx.Timeout(self.connect_timeout, read=self.wait * 1.1 + self.connect_timeout),
                trust_env=False,  # a proxy from the environment must never see registry traffic
            )
        return self._http

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self._client().request(method, path, **kw)
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(f"consul {self.endpoints[0]}: {exc!r}") from exc

    @staticmethod
    def _check(r: httpx.Response, what: str) -> None:
        if r.status_code != 200:
            raise RegistryError(f"consul {what}: HTTP {r.status_code} {r.text[:200]!r}")

    async def connect(self) -> None:
        self._check(await self._request("GET", "/v1/status/leader"), "status")

    async def _session_id(self) -> str:
        if self._session is None:
            r = await self._request("PUT", "/v1/session/create", json=session_body(self.ttl))
            self._check(r, "session create")
            self._session = str(r.json()["ID"])
        return self._session

    async def put(self, key: str, value: str, ttl: float | None) -> None:
        if not ttl:
            self._check(await self._request("PUT", kv_path(key), content=value.encode()), f"put {key}")
            return
        path = kv_path(key, acquire=await self._session_id())
        r = await self._request("PUT", path, content=value.encode())
        self._check(r, f"put {key}")
        if r.text.strip() != "true":  # another session holds the key
            raise RegistryError(f"consul: {key} is held by another session")

    async def refresh(self, ttl: float) -> None:
        if self._session is None:
            return
        r = await self._request("PUT", f"/v1/session/renew/{self._session}")
        if r.status_code == 404:
            self._session = None  # expired, and its keys deleted: the plugin's next puts make a new one
            return
        self._check(r, "session renew")

    async def delete(self, key: str) -> None:
        self._check(await self._request("DELETE", kv_path(key)), f"delete {key}")

    async def _list(self, directory: str, **params: str | int | None) -> tuple[list[KVPair], str | None]:
        r = await self._request("GET", kv_path(directory, recurse=None, **params))
        index = r.headers.get("X-Consul-Index")
        if r.status_code == 404:
            return [], index  # no key under the directory
        self._check(r, f"list {directory}")
        return children(directory, decode_kv_list(r.json())), index

    async def list(self, directory: str) -> list[KVPair]:
        return (await self._list(directory))[0]

    async def watch(self, directory: str) -> AsyncIterator[None]:
        _, header = await self._list(directory)
        index = next_index(0, header)
        yield None  # in place: the caller lists now
        while True:
            _, header = await self._list(directory, index=index, wait=f"{self.wait:g}s")
            new = next_index(index, header)
            if new == 0:
                await asyncio.sleep(1.0)  # no usable index: the next query would not block; no hot loop
            if new != index:
                index = new
                yield None

    async def close(self) -> None:
        if self._session is not None:
            try:  # the entries go at once (Behavior: delete) rather than when the session expires
                await self._request("PUT", f"/v1/session/destroy/{self._session}")
            except RegistryError:
                pass
            self._session = None
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()
