"""The Redis registry, compatible with Go's rpcxio/rpcx-redis (libkv's redis store) (layer: registry).

Go's rule, kept byte for byte so Go and Python share one Redis: a key ``k`` is stored at ``"/" + k``
(libkv's ``Normalize``, so ``/rpcx/Arith/tcp@h:p`` lives at ``//rpcx/Arith/tcp@h:p``), its value is
the JSON ``{"Key": k, "Value": <base64 of the metadata>, "LastIndex": n}`` written with ``SET ... EX
ttl``, a directory is listed with ``SCAN MATCH <dir>*`` + ``MGET``, and watched with keyspace
notifications (``CONFIG SET notify-keyspace-events KEA``, ``PSUBSCRIBE __keyspace*:<dir>*``).
Liveness is the key's expiry: the plugin re-puts it every update interval.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, AsyncIterator

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..client.discovery import KVPair
from .base import Backend, RegistryUnavailableError

__all__ = ["RedisBackend", "encode_value", "decode_value"]


def normalize(key: str) -> str:
    """libkv's ``store.Normalize``: ``"/" + key``.

    >>> normalize("/rpcx/Arith"), normalize("rpcx/Arith")
    ('//rpcx/Arith', '/rpcx/Arith')
    """
    return "/" + key


def encode_value(key: str, value: str, index: int | None = None) -> str:
    """libkv's stored JSON (Go's ``json.Marshal`` of ``store.KVPair``: ``[]byte`` as base64).

    >>> encode_value("/rpcx/Arith/tcp@127.0.0.1:1", "weight=2", index=7)
    '{"Key":"/rpcx/Arith/tcp@127.0.0.1:1","Value":"d2VpZ2h0PTI=","LastIndex":7}'
    """
    n = time.time_ns() % 1_000_000_000 if index is None else index  # Go: time.Now().Nanosecond()
    return json.dumps(
        {"Key": key, "Value": base64.b64encode(value.encode()).decode("ascii"), "LastIndex": n}, separators=(",", ":")
    )


def decode_value(raw: str | bytes) -> str:
    """The metadata inside libkv's JSON; a value that is not libkv JSON raises ``ValueError``.

    >>> decode_value('{"Key":"k","Value":"d2VpZ2h0PTI=","LastIndex":7}')
    'weight=2'
    >>> decode_value('{"Key":"k","Value":null,"LastIndex":1}')
    ''
    """
    obj = json.loads(raw)
    if not isinstance(obj, dict) or "Key" not in obj:
        raise ValueError(f"not a libkv value: {raw!r:.80}")
    return base64.b64decode(obj.get("Value") or "").decode()


class RedisBackend(Backend):
    """Go rpcx-redis's store. URL: ``redis://host:port`` (``redis://host:port/DB`` picks a database).

    >>> RedisBackend("redis://127.0.0.1:6379").endpoints
    ['127.0.0.1:6379']
    """

    scheme = "redis"

    def __init__(self, url: str, *, connect_timeout: float = 5.0, password: str | None = None) -> None:
        super().__init__(url, connect_timeout=connect_timeout)
        host, _, port = self.endpoints[0].rpartition(":")
        db = url.split("://", 1)[1].partition("/")[2]
        self._options: dict[str, Any] = dict(
            host=host.strip("[]"),
            port=int(port),
            db=int(db) if db else 0,
            password=password,
            socket_connect_timeout=connect_timeout,
            socket_timeout=None,
            decode_responses=True,
            # no silent retries inside redis-py: the plugin's refresh and the discovery's watch
            # retry themselves, and a watch must see a restart (the restarted server has lost
            # the keyspace-events setting and must be told again)
            retry=Retry(NoBackoff(), 0),
        )
        self._client: aioredis.Redis | None = None

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis(**self._options)
        return self._client

    async def connect(self) -> None:
        try:
            await self._redis().ping()
            # what Go's libkv does on connecting: watches need keyspace events
            await self._redis().config_set("notify-keyspace-events", "KEA")
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise RegistryUnavailableError(f"redis {self.endpoints[0]}: {exc}") from exc

    async def put(self, key: str, value: str, ttl: float | None) -> None:
        try:
            await self._redis().set(normalize(key), encode_value(key, value), ex=max(1, round(ttl)) if ttl else None)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise RegistryUnavailableError(f"redis {self.endpoints[0]}: {exc}") from exc

    async def delete(self, key: str) -> None:
        try:
            await self._redis().delete(normalize(key))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise RegistryUnavailableError(f"redis {self.endpoints[0]}: {exc}") from exc

    async def list(self, directory: str) -> list[KVPair]:
        prefix = normalize(directory) + "/"
        try:
            keys = [k async for k in self._redis().scan_iter(match=_escape(prefix) + "*", count=100)]
            keys = sorted(k for k in keys if "/" not in k[len(prefix) :])  # direct children only
            values = await self._redis().mget(keys) if keys else []
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise RegistryUnavailableError(f"redis {self.endpoints[0]}: {exc}") from exc
        pairs = []
        for k, raw in zip(keys, values):
            if raw is None:  # expired between SCAN and MGET
                continue
            try:
                pairs.append(KVPair(k[len(prefix) :], decode_value(raw)))
            except ValueError:
                continue  # not an rpcx entry
        return pairs

    async def watch(self, directory: str) -> AsyncIterator[None]:
        pubsub = self._redis().pubsub()
        try:
            await self._redis().config_set("notify-keyspace-events", "KEA")  # again: a restart forgets it
            await pubsub.psubscribe(f"__keyspace*:{_escape(normalize(directory))}*")
            yield None  # subscribed: the caller lists now, and each event below lists again
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if msg is not None:
                    yield None
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise RegistryUnavailableError(f"redis {self.endpoints[0]}: {exc}") from exc
        finally:
            try:
                await pubsub.aclose()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _escape(pattern: str) -> str:
    """Escape Redis glob characters in a literal key prefix.

    >>> _escape("/rpcx/a*b[1]")
    '/rpcx/a\\\\*b\\\\[1\\\\]'
    """
    return "".join("\\" + c if c in "*?[]\\" else c for c in pattern)
