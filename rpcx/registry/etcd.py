"""The etcd v3 registry, over etcd's JSON gateway with httpx (layer: registry).

As Go's rpcxio/rpcx-etcd (libkv etcdv3): keys exactly as given (``/rpcx/Arith/tcp@h:p``), raw
metadata as the value, the service entries attached to one lease kept alive every update interval
(re-granted, and the entries put again, when it was lost), a directory listed with a prefix range
and watched with a prefix watch. The gateway (``/v3/kv/put``, ``/v3/kv/range``, ``/v3/watch``,
``/v3/lease/*``) takes and returns keys and values in base64 and int64s as strings.
"""

from __future__ import annotations

import base64
import json
from typing import Any, AsyncIterator

import httpx

from ..client.discovery import KVPair
from .base import Backend, RegistryError, RegistryUnavailableError

__all__ = ["EtcdBackend", "prefix_end"]


def _b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode("ascii")


def _unb64(s: str) -> str:
    return base64.b64decode(s).decode()


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix`` (etcd's rule).

    >>> prefix_end(b"/rpcx/Arith/")
    b'/rpcx/Arith0'
    """
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\x00"  # every key


class EtcdBackend(Backend):
    """Go rpcx-etcd's v3 store. URL: ``etcd://host:port`` (the client URL, e.g. 2379).

    >>> EtcdBackend("etcd://127.0.0.1:2379").endpoints
    ['127.0.0.1:2379']
    """

    scheme = "etcd"

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        super().__init__(url, connect_timeout=connect_timeout)
        self._http: httpx.AsyncClient | None = None
        self._lease: str | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            # no read timeout: a watch is one long response
            self._http = httpx.AsyncClient(
                base_url=f"http://{self.endpoints[0]}",
                timeout=httpx.Timeout(self.connect_timeout, read=None),
                trust_env=False,  # a proxy from the environment must never see registry traffic
            )
        return self._http

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            r = await self._client().post(path, json=body, timeout=self.connect_timeout)
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(f"etcd {self.endpoints[0]}: {exc!r}") from exc
        try:
            data = r.json()
        except ValueError:
            raise RegistryError(f"etcd {self.endpoints[0]} {path}: HTTP {r.status_code} {r.text[:200]!r}") from None
        if r.status_code != 200 or not isinstance(data, dict):
            message = data.get("message") or data.get("error") if isinstance(data, dict) else data
            raise RegistryError(f"etcd {self.endpoints[0]} {path}: {message}")
        return data

    async def connect(self) -> None:
        await self._post("/v3/maintenance/status", {})

    async def _lease_id(self) -> str:
        if self._lease is None:
            # etcd may raise a short TTL to its minimum (about 2 s with the default election timeout)
            data = await self._post("/v3/lease/grant", {"TTL": max(1, round(self.ttl))})
            self._lease = str(data["ID"])
        return self._lease

    async def put(self, key: str, value: str, ttl: float | None) -> None:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if ttl:
            body["lease"] = await self._lease_id()
        try:
            await self._post("/v3/kv/put", body)
        except RegistryError as exc:
            if "lease not found" not in str(exc) or not ttl:
                raise
            self._lease = None  # expired while we were away: a new lease, and put again
            body["lease"] = await self._lease_id()
            await self._post("/v3/kv/put", body)

    async def refresh(self, ttl: float) -> None:
        if self._lease is None:
            return
        data = await self._post("/v3/lease/keepalive", {"ID": self._lease})
        if int(data.get("result", {}).get("TTL", 0)) <= 0:
            self._lease = None  # the lease is gone (and its keys): the plugin's next puts re-grant

    async def delete(self, key: str) -> None:
        await self._post("/v3/kv/deleterange", {"key": _b64(key)})

    async def list(self, directory: str) -> list[KVPair]:
        prefix = (directory + "/").encode()
        data = await self._post("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))})
        pairs = []
        for kv in data.get("kvs", []):
            name = _unb64(kv["key"])[len(prefix.decode()) :]
            if name and "/" not in name:  # direct children only
                pairs.append(KVPair(name, _unb64(kv.get("value", ""))))
        return sorted(pairs, key=lambda p: p.key)

    async def watch(self, directory: str) -> AsyncIterator[None]:
        prefix = (directory + "/").encode()
        body = {"create_request": {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))}}
        try:
            async with self._client().stream("POST", "/v3/watch", json=body) as r:
                if r.status_code != 200:
                    raise RegistryError(f"etcd {self.endpoints[0]} watch: HTTP {r.status_code}")
                async for line in r.aiter_lines():
                    if not line.strip():
                        continue
                    msg = json.loads(line)
                    result = msg.get("result") or {}
                    if "error" in msg:
                        raise RegistryError(f"etcd {self.endpoints[0]} watch: {msg['error']}")
                    if result.get("canceled"):
                        raise RegistryUnavailableError(f"etcd {self.endpoints[0]} watch canceled: {result}")
                    yield None  # the first line confirms the watch; each later one carries events
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(f"etcd {self.endpoints[0]}: {exc!r}") from exc
        raise RegistryUnavailableError(f"etcd {self.endpoints[0]}: the watch stream ended")

    async def close(self) -> None:
        if self._lease is not None:
            try:  # the entries go at once rather than when the lease expires
                await self._post("/v3/lease/revoke", {"ID": self._lease})
            except RegistryError:
                pass
            self._lease = None
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()
