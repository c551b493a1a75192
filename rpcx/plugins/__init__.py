"""Server plugins, each a small object with some of :mod:`rpcx.server.plugins`' hooks (layer: server
plugins): add one with ``Server.add_plugin``.

Rule: the connection plugins (:class:`IPFilter`, :class:`ConnectionLimit`) use only lifecycle hooks,
so the server's fast path stays on; :class:`RateLimit` and :class:`Alias` need a hook on every call,
which turns it off while they are added.
"""

from .alias import Alias
from .connlimit import ConnectionLimit
from .ipfilter import IPFilter
from .ratelimit import RATE_LIMITED, RateLimit, RateLimitedError, TokenBucket

__all__ = ["Alias", "ConnectionLimit", "IPFilter", "RateLimit", "RateLimitedError", "TokenBucket", "RATE_LIMITED"]
