"""mDNS registry, as Go rpcx's ``serverplugin.MDNSRegisterPlugin`` and ``client.MDNSDiscovery``
(layer: registry; zeroconf, pip extra ``mdns``).

Go's wire format, kept so a Go client can read a Python server's record and back: one service of
type ``_rpcxservices.local.`` (two labels, no ``._tcp``) per server, its port the rpcx port, and a
single raw TXT string (not ``key=value``) holding ``url.QueryEscape(json.Marshal(services))`` where
each service is ``{"service": name, "meta": metadata, "service_address": "tcp@h:p"}``. Liveness is
mDNS's own: a graceful stop sends goodbye packets (TTL 0), and a killed server's records leave the
caches when their TTL runs out (``ttl``, short in tests).

zeroconf's ``ServiceBrowser`` never fires for a two-label type, so discovery sends the PTR query
for ``_rpcxservices.local.`` itself and reads the answers from zeroconf's cache.

Differences from Go, deliberate: the instance name is ``hostname-port`` (Go uses the hostname, so
two servers on one host collide; Go's discovery ignores the instance name, so this changes nothing
for it), and discovery keeps only the entries of its own service (Go's ``browse`` returns every
server's address whatever its services). ``interfaces`` has no default: tests pass
``["127.0.0.1"]`` so nothing leaves the machine; production passes e.g. ``zeroconf.InterfaceChoice.All``.

With a ``metrics`` meter (:mod:`rpcx.registry.metrics`) the plugin, like Go's, merges the
``calls``/``connections`` rates into every entry and publishes the record again every
``update_interval``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any, AsyncIterator, Sequence
from urllib.parse import quote_plus, unquote_plus

from zeroconf import DNSOutgoing, DNSQuestion, IPVersion, ServiceInfo, current_time_millis
from zeroconf.asyncio import AsyncZeroconf
from zeroconf.const import _CLASS_IN, _FLAGS_QR_QUERY, _TYPE_PTR, _TYPE_TXT

from ..client.discovery import KVPair
from .base import RegistryError
from .metrics import CallMeter, merge_metrics

__all__ = ["SERVICE_TYPE", "MDNSRegisterPlugin", "MDNSDiscovery", "encode_txt", "decode_txt"]

log = logging.getLogger("rpcx.registry.mdns")

#: Go's ``zeroconf.Register(host, "_rpcxservices", "local.", ...)``
SERVICE_TYPE = "_rpcxservices.local."


def _go_json(obj: Any) -> str:
    """``json.Marshal``'s bytes: compact, UTF-8, and ``<``, ``>``, ``&`` escaped as ``\\u003c`` ...
    (those three appear only inside strings, so replacing them is safe)."""
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return s.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def encode_txt(services: Sequence[tuple[str, str]], service_address: str) -> str:
    """Go's TXT string for ``(name, metadata)`` pairs (``omitempty``: no ``meta`` when empty).

    >>> encode_txt([("Arith", "weight=2&group=a")], "tcp@127.0.0.1:8972")
    '%5B%7B%22service%22%3A%22Arith%22%2C%22meta%22%3A%22weight%3D2%5Cu0026group%3Da%22%2C%22service_address%22%3A%22tcp%40127.0.0.1%3A8972%22%7D%5D'
    >>> unquote_plus(encode_txt([("Echo", "")], "tcp@127.0.0.1:1"))
    '[{"service":"Echo","service_address":"tcp@127.0.0.1:1"}]'
    """
    items = []
    for name, meta in services:
        item = {"service": name}
        if meta:
            item["meta"] = meta
        item["service_address"] = service_address
        items.append(item)
    return quote_plus(_go_json(items), safe="")  # Go's url.QueryEscape


def decode_txt(txt: str) -> list[tuple[str, str, str]]:
    """``(service, metadata, service_address)`` of each entry of a TXT string; ``ValueError`` when
    it is not Go's format.

    >>> decode_txt(encode_txt([("Arith", "weight=2&group=a")], "tcp@127.0.0.1:8972"))
    [('Arith', 'weight=2&group=a', 'tcp@127.0.0.1:8972')]
    """
    items = json.loads(unquote_plus(txt))
    if not isinstance(items, list):
        raise ValueError("rpcx mDNS TXT is not a JSON list")
    out = []
    for it in items:
        if not isinstance(it, dict) or not isinstance(it.get("service_address"), str):
            raise ValueError(f"rpcx mDNS entry without service_address: {it!r}")
        out.append((str(it.get("service", "")), str(it.get("meta", "")), it["service_address"]))
    return out


def _raw_txt(txt: str) -> bytes:
    data = txt.encode()
    if len(data) > 255:  # one DNS character-string; Go would send an invalid record
        raise RegistryError(f"the mDNS TXT string is {len(data)} bytes, over DNS's 255: shorten the metadata")
    return bytes([len(data)]) + data


def _first_txt_string(raw: bytes) -> str:
    if not raw:
        raise ValueError("empty TXT record")
    return raw[1 : 1 + raw[0]].decode()


def _zeroconf(interfaces: Any) -> AsyncZeroconf:
    return AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)


# -- server side -----------------------------------------------------------------------------------
class MDNSRegisterPlugin:
    """Publishes a server's services over mDNS (Go's ``MDNSRegisterPlugin``).

    Lifecycle hooks only (the server keeps its fast path). Add it before registering, then
    ``await plugin.start(address)`` once the server listens and ``await plugin.aclose()`` after
    ``server.shutdown()`` (sends the goodbye packets).

    >>> plugin = MDNSRegisterPlugin(interfaces=["127.0.0.1"], ttl=120)          # doctest: +SKIP
    >>> server.add_plugin(plugin); server.register(Arith(), "weight=2")          # doctest: +SKIP
    >>> await plugin.start(await server.start("tcp@127.0.0.1:8972"))             # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        interfaces: Any,
        ttl: int = 120,
        instance: str | None = None,
        metrics: CallMeter | None = None,
        update_interval: float = 10.0,
    ) -> None:
        if ttl < 1:
            raise ValueError("ttl must be at least 1 second")
        if update_interval <= 0:
            raise ValueError("update_interval must be positive")
        self.interfaces = interfaces
        #: Go's ``Metrics``: the ``calls``/``connections`` rates merged into every service's
        #: metadata, published again every ``update_interval`` (rpcx.registry.metrics)
        self.metrics = metrics
        self.update_interval = update_interval
        self.ttl = ttl
        self.instance = instance
        self.services: dict[str, str] = {}
        self.service_address: str | None = None
        self._azc: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None
        self._registered = False
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None

    # lifecycle hooks: the server calls them synchronously; the I/O runs in a task
    def register(self, name: str, obj: Any, metadata: str = "") -> None:
        if self.services.get(name) != metadata:
            self.services[name] = metadata
            self._sync_later()

    def register_function(self, service_path: str, fname: str, fn: Any, metadata: str = "") -> None:
        if service_path not in self.services:
            self.services[service_path] = metadata
            self._sync_later()

    def unregister(self, name: str) -> None:
        if self.services.pop(name, None) is not None:
            self._sync_later()

    def _sync_later(self) -> None:
        if self._azc is None:
            return  # start() publishes whatever is registered by then
        task = asyncio.ensure_future(self._sync())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _make_info(self) -> ServiceInfo:
        assert self.service_address is not None
        hostport = self.service_address.partition("@")[2]
        host, _, port = hostport.rpartition(":")
        instance = self.instance or f"{socket.gethostname()}-{port}"
        services = sorted(self.services.items())
        if self.metrics is not None:
            rates = self.metrics.rates()
            services = [(name, merge_metrics(meta, rates)) for name, meta in services]
        txt = encode_txt(services, self.service_address)
        return ServiceInfo(
            SERVICE_TYPE,
            f"{instance}.{SERVICE_TYPE}",
            port=int(port),
            properties=_raw_txt(txt),
            server=f"{instance}.local.",
            addresses=[socket.inet_aton(host.strip("[]"))],
            host_ttl=self.ttl,
            other_ttl=self.ttl,
        )

    async def _sync(self) -> None:
        # one writer at a time, so the record on the network follows the registrations in order
        async with self._lock:
            if self._azc is None:
                return
            try:
                if not self.services:
                    if self._registered and self._info is not None:
                        await (await self._azc.async_unregister_service(self._info))
                        self._registered = False
                    return
                info = self._make_info()
                if self._registered:
                    await (await self._azc.async_update_service(info))
                else:
                    await (await self._azc.async_register_service(info, strict=False))
                    self._registered = True
                self._info = info
            except Exception as exc:  # noqa: BLE001 - a bad record must not take the server down
                log.warning("mdns: publishing %s failed: %s", self.service_address, exc)

    async def start(self, service_address: str) -> None:
        """Publish every service registered so far at ``service_address`` (``tcp@ip:port``, an
        IPv4 address clients can reach)."""
        host = service_address.partition("@")[2].rpartition(":")[0]
        try:
            socket.inet_aton(host)
        except OSError:
            raise ValueError(f"{service_address!r}: mDNS publishes an IPv4 address, e.g. tcp@10.0.0.5:8972") from None
        if host == "0.0.0.0":
            raise ValueError(f"{service_address!r} is not an address clients can dial")
        self.service_address = service_address
        self._make_info()  # a TXT string too long (metrics included): fail here, loudly
        self._azc = _zeroconf(self.interfaces)
        await self._sync()
        if self.metrics is not None:
            self._refresher = asyncio.ensure_future(self._refresh())

    async def _refresh(self) -> None:
        # Go's MDNSRegisterPlugin sets the TXT again every UpdateInterval, with the rates
        while True:
            await asyncio.sleep(self.update_interval)
            await self._sync()

    async def aclose(self) -> None:
        """Send the goodbye packets and close."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._lock:
            azc, self._azc = self._azc, None
            if azc is None:
                return
            if self._registered and self._info is not None:
                try:
                    await (await azc.async_unregister_service(self._info))
                except Exception as exc:  # noqa: BLE001 - the records expire with their TTL anyway
                    log.warning("mdns: goodbye for %s failed: %s", self.service_address, exc)
                self._registered = False
            await azc.async_close()


# -- client side -----------------------------------------------------------------------------------
class MDNSDiscovery:
    """The servers of one service found over mDNS (Go's ``NewMDNSDiscovery(service, timeout,
    watchInterval, domain)``): every ``watch_interval`` a PTR query, ``timeout`` to collect answers.

    >>> d = await MDNSDiscovery.open("Arith", interfaces=["127.0.0.1"])   # doctest: +SKIP
    >>> xclient = XClient("Arith", discovery=d)                           # doctest: +SKIP
    """

    def __init__(
        self, service: str, *, interfaces: Any, timeout: float = 1.0, watch_interval: float = 10.0
    ) -> None:
        if timeout <= 0 or watch_interval <= 0:
            raise ValueError("timeout and watch_interval must be positive")
        self.service = service
        self.interfaces = interfaces
        self.timeout = timeout
        self.watch_interval = watch_interval
        self._azc: AsyncZeroconf | None = None
        self._pairs: list[KVPair] = []
        self._closed = False

    @classmethod
    async def open(
        cls, service: str, *, interfaces: Any, timeout: float = 1.0, watch_interval: float = 10.0
    ) -> "MDNSDiscovery":
        """Browse once (an empty list is not an error: mDNS cannot tell "no server" from "none yet")."""
        d = cls(service, interfaces=interfaces, timeout=timeout, watch_interval=watch_interval)
        await d.refresh()
        return d

    def _zc(self) -> AsyncZeroconf:
        if self._closed:
            raise RegistryError("the mDNS discovery is closed")
        if self._azc is None:
            self._azc = _zeroconf(self.interfaces)
        return self._azc

    async def browse(self) -> list[KVPair]:
        """Query now and return the servers of this service whose records are live."""
        azc = self._zc()
        zc = azc.zeroconf
        await zc.async_wait_for_start()
        out = DNSOutgoing(_FLAGS_QR_QUERY)
        out.add_question(DNSQuestion(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN))
        zc.async_send(out)
        await asyncio.sleep(self.timeout)  # answers land in zeroconf's cache
        now = current_time_millis()
        pairs: dict[str, str] = {}
        for ptr in zc.cache.async_all_by_details(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN):
            if ptr.is_expired(now):
                continue  # a goodbye (TTL 0 -> 1 s) or a dead server's record running out
            alias: str = ptr.alias  # type: ignore[attr-defined]
            raw = self._txt(zc, alias, now)
            if raw is None:
                info = await azc.async_get_service_info(SERVICE_TYPE, alias, int(self.timeout * 1000))
                raw = info.text if info is not None else None
            if not raw:
                continue
            try:
                entries = decode_txt(_first_txt_string(raw))
            except (ValueError, UnicodeDecodeError) as exc:
                log.warning("mdns: ignoring %s, not an rpcx record: %s", alias, exc)
                continue
            for service, meta, address in entries:
                if service == self.service:
                    pairs[address] = meta
        return [KVPair(k, pairs[k]) for k in sorted(pairs)]

    @staticmethod
    def _txt(zc: Any, alias: str, now: float) -> bytes | None:
        live = [r for r in zc.cache.async_all_by_details(alias, _TYPE_TXT, _CLASS_IN) if not r.is_expired(now)]
        return live[-1].text if live else None

    def get_services(self) -> list[KVPair]:
        """The servers of the last browse."""
        return list(self._pairs)

    async def refresh(self) -> list[KVPair]:
        """Browse now and keep the result."""
        self._pairs = await self.browse()
        return self.get_services()

    def watch(self) -> AsyncIterator[list[KVPair]]:
        """The whole list each time a browse (every ``watch_interval``) finds it changed."""
        return self._watch(self.get_services())

    async def _watch(self, seen: list[KVPair]) -> AsyncIterator[list[KVPair]]:
        while not self._closed:
            await asyncio.sleep(self.watch_interval)
            if self._closed:
                return
            try:
                pairs = await self.refresh()
            except OSError as exc:
                log.warning("mdns browse failed: %s; keeping %d server(s)", exc, len(self._pairs))
                continue
            if pairs != seen:
                seen = pairs
                yield pairs

    def clone(self, service_path: str) -> "MDNSDiscovery":
        """A discovery of another service (its own zeroconf instance, made on first browse)."""
        return MDNSDiscovery(
            service_path, interfaces=self.interfaces, timeout=self.timeout, watch_interval=self.watch_interval
        )

    async def aclose(self) -> None:
        """Stop watching and close the zeroconf instance."""
        self._closed = True
        azc, self._azc = self._azc, None
        if azc is not None:
            await azc.async_close()
