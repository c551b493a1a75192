"""Go's fail modes as loops over XClient's attempt point (layer: client).

Rule (Go's client/xclient.go): at most ``retries + 1`` attempts, ``retry_interval`` apart; only dial
and connection errors and an open breaker are retried (never a :class:`~rpcx.errors.ServiceError`,
a timeout, a cancellation or a codec error). Failfast makes one attempt; Failtry retries the same
server; Failover selects afresh for each retry; Failbackup sends a second request to another
server when the first has not answered within ``backup_latency``, and the first success
wins (both failing raises the first request's error, as Go reports call1's).

Not in Go: a server that refused a dial (or whose breaker is open) is not selected again by the
same call unless every server did; and Failbackup's second request goes to another server than the
first (Go selects afresh and may pick the same, slow one), so with one slow server among N the
backup always lands on a fast one.

:class:`FailModes` is a base of ``XClient`` (see ``xclient.py``); it is not used alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import NoServerAvailableError
from .attempt import AttemptPoint
from .options import FailMode
from .selector import Call, Outcome

__all__ = ["FailModes"]


class FailModes(AttemptPoint):
    """Runs one call under ``self.fail_mode`` (a base of XClient)."""

    fail_mode: FailMode

    async def _call_with_fail_mode(
        self, call: Call, reply_type: Any, response_metadata: dict[str, str] | None, deadline: float | None,
    ) -> Any:
        """The reply to ``call`` under the fail mode, or the error that ended it."""
        if self.fail_mode == FailMode.FAILBACKUP:
            return await self._call_backup(call, reply_type, response_metadata, deadline)
        if self.fail_mode == FailMode.FAILFAST:
            key = self._select(call)
            result = await self._attempt(call, key, reply_type=reply_type, deadline=deadline,
                                         response_metadata=response_metadata)
            return result.unwrap()
        return await self._call_retrying(call, reply_type, response_metadata, deadline)

    async def _call_retrying(
        self, call: Call, reply_type: Any, response_metadata: dict[str, str] | None, deadline: float | None,
    ) -> Any:
        """Failtry and Failover."""
        last: BaseException | None = None
        key: str | None = None
        refused: set[str] = set()
        for i in range(self.option.retries + 1):
            if i and self.option.retry_interval:
                await asyncio.sleep(self.option.retry_interval)
            if key is None or self.fail_mode == FailMode.FAILOVER:
                try:
                    key = self._select(call, refused)
                except NoServerAvailableError as exc:
                    last = exc  # Go selects again on the next attempt
                    continue
            result = await self._attempt(call, key, reply_type=reply_type, deadline=deadline,
                                         response_metadata=response_metadata)
            if result.outcome is Outcome.SUCCESS or not result.outcome.retryable:
                return result.unwrap()
            if result.outcome in (Outcome.DIAL_ERROR, Outcome.BREAKER_OPEN):
                refused.add(key)
            last = result.value
        assert last is not None
        raise last

    async def _call_backup(
        self, call: Call, reply_type: Any, response_metadata: dict[str, str] | None, deadline: float | None,
    ) -> Any:
        """Failbackup: a second request after ``backup_latency``; the first success wins."""
        chosen: list[str] = []

        async def one() -> tuple[Any, dict[str, str]]:
            md: dict[str, str] = {}
            # the backup avoids the first request's server (unless it is the only one): a second
            # request to the server that is slow now would only wait with the first
            key = self._select(call, chosen)
            chosen.append(key)
            result = await self._attempt(call, key, reply_type=reply_type, deadline=deadline,
                                         response_metadata=md)
            return result.unwrap(), md

        def won(t: asyncio.Future[tuple[Any, dict[str, str]]]) -> Any:
            reply, md = t.result()
            if response_metadata is not None:
                response_metadata.update(md)
            return reply

        first = asyncio.ensure_future(one())
        done, _ = await asyncio.wait({first}, timeout=self.option.backup_latency)
        if done:
            return won(first)
        second = asyncio.ensure_future(one())
        tasks = {first, second}
        try:
            while tasks:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                # look at every finished one, so no failure is left unretrieved
                winners = [t for t in done if t.exception() is None]
                if winners:
                    return won(winners[0])
            # both failed: report the first request's error, as Go reports call1's
            exc = first.exception()
            assert exc is not None
            raise exc
        finally:
            for t in (first, second):
                if not t.done():
                    t.cancel()  # the loser: abandoned, its connection kept
                    self._track(t)
