"""Picks the C versions of the per-call functions when they are built (layer: shared, stdlib only).

``rpcx._speedups`` is an optional C extension compiled at install time. Every function in it has a
pure-Python twin that defines its behaviour; the tests run both. Set ``RPCX_PURE_PYTHON=1`` to use
the twins even when the extension is built (to rule it out when hunting a bug, say).

>>> speedups is None or callable(speedups.peek_route)
True
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["speedups"]

speedups: ModuleType | None = None
if not os.environ.get("RPCX_PURE_PYTHON"):
    try:
        from . import _speedups as speedups  # type: ignore[no-redef]
    except ImportError:  # not built (no compiler at install time, or another Python)
        speedups = None

