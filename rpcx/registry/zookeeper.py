"""The ZooKeeper registry, with kazoo, as Go's rpcxio/rpcx-zookeeper (libkv zookeeper) (layer: registry).

Go drops the base path's leading ``/`` and libkv puts it back, so ``/rpcx/Arith/tcp@h:p`` is the
znode ``/rpcx/Arith/tcp@h:p`` holding the raw metadata; the base and service znodes are persistent
(data ``rpcx_path`` and the service name), a server's znode is **ephemeral**: it lives as long as
the publisher's session, whose timeout is the plugin's TTL. A directory is watched with a children
watch plus a data watch on each child (so a metadata change is seen too).

kazoo is threaded: every call runs in a worker thread (``asyncio.to_thread``) and watch callbacks
come back to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from ..client.discovery import KVPair
from .base import Backend, RegistryUnavailableError

__all__ = ["ZooKeeperBackend", "znode"]


def znode(key: str) -> str:
    """The znode of a Go key: the leading ``/`` dropped (as Go does) and put back (as libkv does).

    >>> znode("/rpcx/Arith/tcp@127.0.0.1:8972"), znode("rpcx/Arith")
    ('/rpcx/Arith/tcp@127.0.0.1:8972', '/rpcx/Arith')
    """
    return "/" + key.lstrip("/")


_LOST = object()


class ZooKeeperBackend(Backend):
    """URL: ``zookeeper://host:port`` (``zookeeper://h1:2181,h2:2181`` for an ensemble).

    >>> ZooKeeperBackend("zookeeper://127.0.0.1:2181,127.0.0.1:2182").endpoints
    ['127.0.0.1:2181', '127.0.0.1:2182']
    """

    scheme = "zookeeper"

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        super().__init__(url, connect_timeout=connect_timeout)
        self._zk: KazooClient | None = None

    def _unavailable(self, exc: BaseException) -> RegistryUnavailableError:
        return RegistryUnavailableError(f"zookeeper {','.join(self.endpoints)}: {exc!r}")

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (NoNodeError, NodeExistsError):
            raise
        except (KazooException, KazooTimeoutError) as exc:
            raise self._unavailable(exc) from exc

    async def connect(self) -> None:
        if self._zk is not None:
            return
        # the session timeout is the liveness of ephemeral znodes: the server bounds it to
        # [2, 20] x its tickTime
        zk = KazooClient(hosts=",".join(self.endpoints), timeout=self.ttl)
        try:
            await asyncio.to_thread(zk.start, self.connect_timeout)
        except (KazooException, KazooTimeoutError, OSError) as exc:
            await asyncio.to_thread(_stop, zk)
            raise self._unavailable(exc) from exc
        self._zk = zk

    def _client(self) -> KazooClient:
        if self._zk is None:
            raise RegistryUnavailableError(f"zookeeper {','.join(self.endpoints)}: not connected")
        return self._zk

    async def put(self, key: str, value: str, ttl: float | None) -> None:
        zk, path, data = self._client(), znode(key), value.encode()
        parent = path.rpartition("/")[0]
        if parent:
            await self._call(zk.ensure_path, parent)
        try:
            await self._call(zk.create, path, data, ephemeral=bool(ttl))
        except NodeExistsError:
            await self._call(zk.set, path, data)
        except NoNodeError:  # the parent went away meanwhile: the next refresh puts it again
            raise RegistryUnavailableError(f"zookeeper: parent of {path} vanished") from None

    async def delete(self, key: str) -> None:
        try:
            await self._call(self._client().delete, znode(key))
        except NoNodeError:
            pass

    async def list(self, directory: str) -> list[KVPair]:
        zk, path = self._client(), znode(directory)
        try:
            children = await self._call(zk.get_children, path)
        except NoNodeError:
            return []
        pairs = []
        for child in sorted(children):
            try:
                data, _ = await self._call(zk.get, f"{path}/{child}")
            except NoNodeError:
                continue  # left between the two reads
            pairs.append(KVPair(child, (data or b"").decode()))
        return pairs

    async def watch(self, directory: str) -> AsyncIterator[None]:
        zk, path = self._client(), znode(directory)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[object] = asyncio.Queue()

        def fired(event: object) -> None:  # in kazoo's thread
            loop.call_soon_threadsafe(events.put_nowait, event)

        def state(s: str) -> None:  # in kazoo's thread; a lost or suspended session loses watches
            if s in (KazooState.LOST, KazooState.SUSPENDED):
                loop.call_soon_threadsafe(events.put_nowait, _LOST)

        zk.add_listener(state)
        try:
            while True:
                # one-shot watches, armed again after every event (kazoo keeps one per path)
                try:
                    children = await self._call(zk.get_children, path, watch=fired)
                except NoNodeError:
                    children = []
                    if await self._call(zk.exists, path, watch=fired) is not None:
                        continue  # created meanwhile
                for child in children:
                    await self._call(zk.exists, f"{path}/{child}", watch=fired)
                yield None
                lost = await events.get() is _LOST
                while not events.empty():  # one listing answers a burst
                    lost = events.get_nowait() is _LOST or lost
                if lost:
                    raise RegistryUnavailableError(f"zookeeper {','.join(self.endpoints)}: connection lost")
        finally:
            zk.remove_listener(state)

    async def close(self) -> None:
        if self._zk is not None:
            zk, self._zk = self._zk, None
            await asyncio.to_thread(_stop, zk)  # closing the session removes its ephemeral znodes


def _stop(zk: KazooClient) -> None:
    try:
        zk.stop()
        zk.close()
    except Exception:  # noqa: BLE001 - closing a client that never connected
        pass
