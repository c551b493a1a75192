"""XClient's fan-out call patterns: ``broadcast``, ``fork`` and ``inform`` (layer: client).

Rule: one attempt on every listed server at once, through the attempt point; servers that cannot
be dialled or whose breaker is open are left out, as Go's fan-outs skip a server
``getCachedClient`` fails on. Fail and select modes do not apply. Attempts still running when a
pattern has its answer go on in the background, tracked so ``aclose`` waits for them.

:class:`FanOut` is a base of ``XClient`` (see ``xclient.py``); it is not used alone.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from typing import Any, AsyncGenerator

from ..errors import NoServerAvailableError
from .attempt import AttemptResult
from .failmodes import FailModes
from .pending import Receipt
from .selector import Outcome
from .serverset import NO_SERVER

__all__ = ["FanOut"]


class FanOut(FailModes):
    """Broadcast, fork and inform (a base of XClient)."""

    async def broadcast(
        self, method: str, args: Any, reply_type: Any = None, *, metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None, timeout: float = 60.0,
    ) -> Any:
        """Call every server; succeed only if all do (Go's ``Broadcast``). Returns the first reply to
        arrive, and raises at the first failure without waiting for the others (they finish in the
        background). Servers that cannot be dialled (or whose breaker is open) are skipped, as Go
        skips them; none left raises :class:`NoServerAvailableError`. Fail and select modes do not apply."""
        first: tuple[Any, dict[str, str]] | None = None
        # aclosing: an early return stops the fan-out now (its unfinished attempts move to the background)
        async with aclosing(self._fan_out(method, args, reply_type, metadata, timeout)) as results:
            async for _key, result, md in results:
                if result.outcome is not Outcome.SUCCESS:
                    result.unwrap()
                if first is None:
                    first = (result.value, md)
        if first is None:
            raise NoServerAvailableError(NO_SERVER)
        if response_metadata is not None:
            response_metadata.update(first[1])
        return first[0]

    async def fork(
        self, method: str, args: Any, reply_type: Any = None, *, metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None, timeout: float = 60.0,
    ) -> Any:
        """Call every server; return the first success without waiting for the others (Go's ``Fork``).
        When all fail, raise the first failure. Servers that cannot be dialled are skipped, as in
        :meth:`broadcast`."""
        failure: AttemptResult | None = None
        async with aclosing(self._fan_out(method, args, reply_type, metadata, timeout)) as results:
            async for _key, result, md in results:
                if result.outcome is Outcome.SUCCESS:
                    if response_metadata is not None:
                        response_metadata.update(md)
                    return result.value
                failure = failure or result
        if failure is None:
            raise NoServerAvailableError(NO_SERVER)
        return failure.unwrap()

    async def inform(
        self, method: str, args: Any, reply_type: Any = None, *, metadata: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> list[Receipt]:
        """Call every server and wait for all; return one :class:`Receipt` per server in the order they
        answered (Go's ``Inform``). Per-server errors are in the receipts, not raised. Servers that
        cannot be dialled are skipped as Go skips them; none left raises :class:`NoServerAvailableError`."""
        async with aclosing(self._fan_out(method, args, reply_type, metadata, timeout)) as results:
            receipts = [
                Receipt(key.split("@", 1)[-1], result.value if result.outcome is Outcome.SUCCESS else None,
                        None if result.outcome is Outcome.SUCCESS else result.value, md)
                async for key, result, md in results
            ]
        if not receipts:
            raise NoServerAvailableError(NO_SERVER)
        return receipts

    async def _fan_out(
        self, method: str, args: Any, reply_type: Any, metadata: dict[str, str] | None, timeout: float,
    ) -> AsyncGenerator[tuple[str, AttemptResult, dict[str, str]], None]:
        """One attempt on every listed server at once; yield ``(key, result, response metadata)`` as
        each ends, leaving out servers that could not be dialled or whose breaker is open. Attempts
        still running when the consumer stops go on in the background, tracked so :meth:`aclose`
        waits for them."""
        call = self._begin(method, args, metadata)
        deadline = time.monotonic() + timeout

        async def one(key: str) -> tuple[str, AttemptResult, dict[str, str]]:
            md: dict[str, str] = {}
            return key, await self._attempt(call, key, reply_type=reply_type, deadline=deadline,
                                            response_metadata=md), md

        pending = {asyncio.ensure_future(one(k)) for k in self._servers}
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    key, result, md = t.result()
                    if result.outcome not in (Outcome.DIAL_ERROR, Outcome.BREAKER_OPEN):
                        yield key, result, md
        finally:
            for t in pending:
                self._track(t)
