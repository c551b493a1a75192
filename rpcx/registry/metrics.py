"""Go's registry metrics: ``calls`` and ``connections`` rates merged into the published metadata
(layer: registry, reading counters of the server).

Go's register plugins (rpcx-etcd, rpcx-redis, rpcx-zookeeper, serverplugin's mDNS) take a
go-metrics ``Metrics`` registry; when it is set, every ``UpdateInterval`` they set
``calls=<rate>&connections=<rate>`` in each service's metadata, each the meter's ``RateMean()``
(events since the meter started / seconds since then) formatted ``%.2f``, and write the metadata
back re-encoded by ``url.Values.Encode`` (keys sorted). Go marks the meters from ``PreCall`` and
``HandleConnAccept``; here a ``PreCall`` hook would switch the server's fast path off, so calls are
counted by the server itself (``Server.count_calls``, which every path honours) and connections
by a ``post_conn_accept`` hook, which runs once per connection and leaves the fast path on.

>>> from rpcx import Server
>>> server = Server()
>>> meter = CallMeter(server)
>>> server.count_calls, server.plugins.per_call
(True, False)
>>> merge_metrics("weight=2&group=a", {"calls": "1.50", "connections": "0.10"})
'calls=1.50&connections=0.10&group=a&weight=2'
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["CallMeter", "merge_metrics"]


def merge_metrics(metadata: str, extra: dict[str, str]) -> str:
    """Go's ``v, _ := url.ParseQuery(meta); v.Set(k, x) ...; v.Encode()``: the keys of ``extra``
    replaced or added, every key sorted (Go's ``Encode`` sorts; values keep their order per key)."""
    pairs = [(k, v) for k, v in parse_qsl(metadata, keep_blank_values=True) if k not in extra]
    pairs += list(extra.items())
    pairs.sort(key=lambda kv: kv[0])  # stable: a key's repeated values keep their order, as Go
    return urlencode(pairs)


class CallMeter:
    """The call and connection rates of one server, as go-metrics' ``RateMean`` since this meter
    started. Made with the server; give it to a registry plugin (``metrics=meter``).

    >>> meter = CallMeter(server)                                            # doctest: +SKIP
    >>> plugin = registry_plugin("etcd://127.0.0.1:2379", metrics=meter)     # doctest: +SKIP
    """

    def __init__(self, server: Any, *, clock: Any = time.monotonic) -> None:
        self.server = server
        self.clock = clock
        server.count_calls = True
        self._calls_at_start = server.calls_served
        self.connections = 0
        self.started = clock()
        server.add_plugin(self)

    # a connection hook, not a per-call one: the fast path stays on
    def post_conn_accept(self, conn: Any) -> bool:
        self.connections += 1
        return True

    @property
    def calls(self) -> int:
        """Calls served since this meter started."""
        return int(self.server.calls_served) - self._calls_at_start

    def rates(self) -> dict[str, str]:
        """``{"calls": "%.2f", "connections": "%.2f"}``, Go's ``RateMean`` of each."""
        elapsed = self.clock() - self.started
        if elapsed <= 0:
            return {"calls": "0.00", "connections": "0.00"}
        return {"calls": f"{self.calls / elapsed:.2f}", "connections": f"{self.connections / elapsed:.2f}"}
