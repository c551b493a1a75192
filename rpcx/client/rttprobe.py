"""Round trips for ``SelectMode.WEIGHTED_ICMP`` without root (layer: client): the rpcx heartbeat as
the ping.

Rule: Go's ``weightedICMPSelector`` pings each server's host three times with ICMP (go-ping, which
needs raw sockets, hence root or a sysctl) and averages the answers, giving up after 3 s. Here a
ping is one rpcx heartbeat on the XClient's own connection to the server (dialled if there is none,
so the connection the calls will use is the one measured): every rpcx server, Go's included,
echoes it at once. It measures the network and the server's readiness to read, not any method's
handling time. :class:`RttProber` measures every listed server when the list changes (as Go) and,
unlike Go, every ``Option.ping_interval`` seconds, so a server whose network got slower (or
recovered) is re-weighed without a discovery change. It only measures; the selector maps round
trips to weights (``weighted.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Protocol

from .client import Client

__all__ = ["PING_COUNT", "PING_TIMEOUT", "ping", "RttProber", "RttTarget"]

log = logging.getLogger("rpcx.client")

#: Go's ``pinger.Count``
PING_COUNT = 3
#: Go's ``pinger.Timeout``: the whole measurement of one server, dial included, gives up after this
PING_TIMEOUT = 3.0


class RttTarget(Protocol):
    """What the prober feeds: a selector that takes round trips (``WeightedICMPSelector``)."""

    @property
    def servers(self) -> list[str]: ...

    def record_rtt(self, key: str, rtt: float | None) -> None: ...


async def ping(client: Client, count: int = PING_COUNT, timeout: float = PING_TIMEOUT) -> float | None:
    """The average round trip, in seconds, of ``count`` heartbeats sent one after another on
    ``client``, all within ``timeout``; None when none was answered (Go: ping failed).

    >>> async def main():                                  # doctest: +SKIP
    ...     async with await Client.connect("tcp@127.0.0.1:8972") as c:
    ...         print(await ping(c))                       # 0.00012 on loopback
    """
    deadline = time.monotonic() + timeout
    rtts: list[float] = []
    for _ in range(count):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            rtts.append(await client.heartbeat(timeout=left))
        except Exception as exc:  # noqa: BLE001 - any failure is a lost ping; the ones answered count
            log.debug("ping of %s failed: %s", client.address, exc)
            break
    return sum(rtts) / len(rtts) if rtts else None


class RttProber:
    """Measures every server of a target's list now and then (XClient runs one per WeightedICMP
    selector; see the module docstring).

    ``connect(key)`` returns the connection to ping (XClient's cached one); ``target()`` returns
    the selector to feed, or None when the XClient no longer uses one (the prober then ends).

    >>> async def main(xc):                                # doctest: +SKIP
    ...     prober = RttProber(xc._probe_client, lambda: xc.selector, interval=30.0)
    ...     task = asyncio.ensure_future(prober.run()); prober.poke()  # measure now
    """

    def __init__(self, connect: Callable[[str], Awaitable[Client]], target: Callable[[], RttTarget | None],
                 interval: float | None) -> None:
        self._connect = connect
        self._target = target
        self.interval = interval
        self._wake = asyncio.Event()
        #: how many rounds of measurement have finished (tests wait on it)
        self.rounds = 0

    def poke(self) -> None:
        """Measure again soon (the list changed)."""
        self._wake.set()

    async def measure(self, key: str) -> float | None:
        """The round trip of one server, or None when it cannot be dialled or answers no ping."""
        start = time.monotonic()
        try:
            client = await asyncio.wait_for(self._connect(key), PING_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a server that cannot be dialled failed its ping
            log.debug("ping of %s: no connection: %s", key, exc)
            return None
        return await ping(client, timeout=max(PING_TIMEOUT - (time.monotonic() - start), 0.0))

    async def run(self) -> None:
        """Measure every listed server, then wait for a change or the interval, until there is no target."""
        while True:
            target = self._target()
            if target is None:
                return
            self._wake.clear()  # a change while we measure asks for another round
            keys = target.servers
            rtts = await asyncio.gather(*(self.measure(k) for k in keys))
            if self._target() is target:  # not replaced meanwhile (set_selector)
                for k, rtt in zip(keys, rtts):
                    target.record_rtt(k, rtt)
            self.rounds += 1
            try:
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
