"""The proxy's access log: one JSON line per call that passes a filter (layer: proxy).

An observer of finished calls (:class:`~rpcx.proxy.calls.CallObserver`). The filter is an
expression in the small safe language of :mod:`rpcx.proxy.expr` over the record's fields
(``rpc_time``, ``status``, ``service``, ``method``, ``route``, ``cluster``, ``upstream``,
``client``, ``error``, ``fault``, ``oneway``, ...) and ``metadata["key"]``; calls left unfinished when
a connection closed are records too (``status == "unfinished"``). The request metadata is decoded
for the log only when the filter reads it or ``include_metadata`` asks for it in each line.

>>> import io
>>> out = io.StringIO()
>>> log = AccessLog('status == "error"', stream=out)
>>> from rpcx.proxy.calls import CallRecord
>>> log.call_finished(CallRecord("127.0.0.1:5", "Arith", "Mul", "r", "c", "tcp@h:1", "ok", None, 0.001, 1))
>>> log.call_finished(CallRecord("127.0.0.1:5", "Arith", "Fail", "r", "c", "tcp@h:1", "error", "boom", 0.001, 2))
>>> json.loads(out.getvalue())["method"]
'Fail'
"""

from __future__ import annotations

import datetime
import json
import sys
from typing import IO, Any

from .calls import FIELDS, CallRecord
from .expr import compile_filter, uses_metadata

__all__ = ["AccessLog"]


class AccessLog:
    """Write one JSON object per line to ``stream`` (or the file at ``path``; ``-`` is stdout)
    for each call that ``filter`` accepts (None: every call)."""

    def __init__(self, filter: str | None = None, *, stream: IO[str] | None = None, path: str | None = None,
                 include_metadata: bool = False) -> None:
        self.filter_source = filter
        self._filter = compile_filter(filter, FIELDS) if filter else None
        self.include_metadata = include_metadata
        self.wants_metadata = include_metadata or (filter is not None and uses_metadata(filter))
        self._own: IO[str] | None = None
        if stream is None:
            if path is None or path == "-":
                stream = sys.stdout
            else:
                stream = self._own = open(path, "a", buffering=1, encoding="utf-8")
        self._stream = stream
        self.written = 0

    def call_finished(self, record: CallRecord) -> None:
        """Write ``record`` as one JSON line if the filter accepts it."""
        fields = record.fields()
        if self._filter is not None and not self._filter(fields, record.metadata):
            return
        line: dict[str, Any] = dict(sorted(fields.items()))
        line["time"] = datetime.datetime.fromtimestamp(record.time, datetime.timezone.utc).isoformat(
            timespec="milliseconds")
        line["rpc_time"] = round(record.rpc_time, 6)
        if record.upstream_time is not None:
            line["upstream_time"] = round(record.upstream_time, 6)
        if self.include_metadata:
            line["metadata"] = record.metadata
        self._stream.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.written += 1

    def close(self) -> None:
        """Close the file this log opened (a stream given to it is only flushed)."""
        if self._own is not None:
            self._own.close()
            self._own = None
        else:
            self._stream.flush()
