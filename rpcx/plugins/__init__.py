"""Server plugins, each a small object with some of :mod:`rpcx.server.plugins`' hooks (layer: server
plugins): add one with ``Server.add_plugin``.

Rule: the connection plugins (:class:`IPFilter`, :class:`ConnectionLimit`) use only lifecycle hooks,
so the server's fast path stays on; :class:`RateLimit` and :class:`Alias` need a hook on every call,
which turns it off while they are added. :mod:`rpcx.plugins.metrics` (Prometheus) and
:mod:`rpcx.plugins.tracing` (OpenTelemetry) keep it on (``wrap_method``); they need their pip
extras (``metrics``, ``tracing``), so they are imported from their modules, not from here.
"""

from .alias import Alias
from .connlimit import ConnectionLimit
from .ipfilter import IPFilter
from .ratelimit import RATE_LIMITED, RateLimit, RateLimitedError, TokenBucket

__all__ = ["Alias", "ConnectionLimit", "IPFilter", "RateLimit", "RateLimitedError", "TokenBucket", "RATE_LIMITED"]
