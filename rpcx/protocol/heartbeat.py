"""Heartbeat frames and their schedule (layer: sans-IO core, stdlib only; time is passed in).

Go's client sends, every ``interval``, a Request with the heartbeat bit, empty path and method,
serialize type MsgPack and the payload ``msgpack int64(now_ns)`` (``d3`` + 8 bytes); the server
echoes the whole frame with the Response bit set. If no echo arrives within ``max_wait`` the
client closes the connection.
"""

from __future__ import annotations

import struct

from .constants import SerializeType
from .message import Message

__all__ = ["heartbeat_request", "heartbeat_echo", "HeartbeatSchedule"]

_I64 = struct.Struct(">q")


def heartbeat_request(seq: int, now_ns: int) -> Message:
    """The heartbeat a Go client would send at ``now_ns``."""
    return Message(
        heartbeat=True,
        serialize_type=SerializeType.MSGPACK,
        seq=seq,
        payload=b"\xd3" + _I64.pack(now_ns),
    )


def heartbeat_echo(req: Message) -> Message:
    """The server's reply: the same frame with only the Response bit added (oneway or not)."""
    return req.replace(message_type=1)


class HeartbeatSchedule:
    """When to send the next heartbeat and whether the last one went unanswered.

    >>> s = HeartbeatSchedule(interval=1.0, max_wait=3.0, now=0.0)
    >>> s.due(0.5), s.due(1.0)
    (False, True)
    >>> s.sent(seq=4, now=1.0); s.expired(3.9), s.expired(4.1)
    (False, True)
    >>> s.answered(4), s.expired(10.0)
    (True, False)
    """

    __slots__ = ("interval", "max_wait", "_next", "_waiting", "_sent_at")

    def __init__(self, interval: float, max_wait: float, now: float) -> None:
        if interval <= 0:
            raise ValueError("heartbeat interval must be positive")
        self.interval = interval
        self.max_wait = max_wait
        self._next = now + interval
        self._waiting: int | None = None
        self._sent_at = 0.0

    @property
    def sent_at(self) -> float:
        """When the last heartbeat was sent."""
        return self._sent_at

    def due(self, now: float) -> bool:
        """Whether a heartbeat should be sent at ``now`` (none is awaiting its echo)."""
        return self._waiting is None and now >= self._next

    def sent(self, seq: int, now: float) -> None:
        """Record that heartbeat ``seq`` was sent at ``now``."""
        self._waiting = seq
        self._sent_at = now
        self._next = now + self.interval

    def answered(self, seq: int) -> bool:
        """Record an echo; returns True when it was the one awaited."""
        if seq == self._waiting:
            self._waiting = None
            return True
        return False

    def expired(self, now: float) -> bool:
        """Whether the heartbeat awaiting its echo has waited longer than ``max_wait``."""
        return self._waiting is not None and now - self._sent_at > self.max_wait

    def next_deadline(self) -> float:
        """The next moment the caller should wake up and check."""
        if self._waiting is not None:
            return self._sent_at + self.max_wait
        return self._next
