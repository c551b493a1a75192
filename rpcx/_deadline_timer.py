"""One loop timer kept at a sans-IO connection's next deadline (layer: asyncio adapters).

The client's and the server's asyncio adapters each keep one of these per connection, armed at
``RpcxConnection.get_timer()``. Deadlines only move later with traffic (a frame arrives, a reply is
sent), so the timer is moved only when the new deadline is earlier, or when none is armed; a timer
that fires early costs one ``handle_timer`` call that finds nothing due, then re-arms. That keeps
the per-read cost at zero instead of a cancel and a reschedule per frame.

>>> import asyncio
>>> loop = asyncio.new_event_loop()
>>> t = DeadlineTimer(loop, lambda: None)
>>> t.arm(loop.time() + 5); t.arm(loop.time() + 9); t.armed_at == t._handle.when()
True
>>> t.cancel(); t.armed_at is None
True
>>> loop.close()
"""

from __future__ import annotations

import asyncio
from typing import Callable

__all__ = ["DeadlineTimer"]


class DeadlineTimer:
    """A loop timer that only ever moves earlier; see the module docstring."""

    __slots__ = ("_loop", "_callback", "_handle", "armed_at")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        #: when the armed timer fires (loop time), or None
        self.armed_at: float | None = None

    def arm(self, when: float | None) -> None:
        """Make sure the timer fires no later than ``when`` (None: nothing to wait for)."""
        if when is None:
            return
        if self._handle is not None:
            if self.armed_at is not None and self.armed_at <= when:
                return
            self._handle.cancel()
        self.armed_at = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = self.armed_at = None
        self._callback()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self.armed_at = None
