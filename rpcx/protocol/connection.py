"""One rpcx connection's protocol state, with no I/O (layer: sans-IO core, stdlib only).

In the manner of h11's ``Connection`` and aioquic's ``QuicConnection``: bytes go in with
:meth:`RpcxConnection.receive_data` and typed events come out; ``send_*`` methods return the bytes
to write; time is an argument (:meth:`~RpcxConnection.get_timer` /
:meth:`~RpcxConnection.handle_timer`), never read from a clock. The object owns everything about a
connection that is protocol rather than I/O:

- framing and the size limits (through :class:`~rpcx.protocol.decoder.FrameDecoder`);
- for the client role, seq allocation and matching replies to calls (Go: the ``pending`` map);
- for the server role, how many requests are still owed a reply, the ``oneway`` rule (never
  reply) and what to do with a response frame sent to a server;
- the read timeout (Go's ``WithReadTimeout``, an idle timeout), the frame timeout (a frame started
  but not finished: the slowloris guard) and, for clients, the heartbeat schedule;
- the failed state: after a protocol error or a timeout the connection is closed for good and
  says why in one :class:`ConnectionTerminated` event.

The server, the client, and later the gateway and the proxy drive this one object; their asyncio
classes only move bytes and run handlers. Two of them joined in memory are the basic test tool:

>>> client, server = RpcxConnection(Role.CLIENT), RpcxConnection(Role.SERVER)
>>> seq, data = client.send_call("Arith", "Mul", b"\\x82\\xa1A\\n\\xa1B\\x14", serialize_type=3, token="call-1")
>>> [ev] = server.receive_data(data, now=0.0)
>>> ev.message.service_method, server.outstanding
('Mul', 1)
>>> [reply] = client.receive_data(server.send_response(ev.message, b"\\x81\\xa1C\\xcc\\xc8"), now=0.0)
>>> reply.token, reply.message.payload, client.pending_count
('call-1', b'\\x81\\xa1C\\xcc\\xc8', 0)

Remote errors (the peer broke the protocol) never raise: they end the connection with a
:class:`ConnectionTerminated` event carrying a :class:`~rpcx.errors.ProtocolError`. Local misuse
(a seq out of range, a client-only call on a server connection, a send after the end) raises
:class:`~rpcx.errors.LocalProtocolError` at once and sends nothing.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, Mapping

from ..errors import (
    ConnectionClosedError,
    ConnectionTimeoutError,
    LocalProtocolError,
    ProtocolError,
    ReadTimeoutError,
    TruncatedFrameError,
)
from .constants import MAGIC, MessageType, SerializeType
from .decoder import FrameDecoder, Limits
from .header import MAX_SEQ, rewrite_seq
from .heartbeat import HeartbeatSchedule, heartbeat_echo, heartbeat_request
from .message import (
    COMPRESS_THRESHOLD,
    Message,
    encode,
    encode_metadata,
    encode_route,
    make_response,
    parse_frame,
    peek_route,
)
from .compress import compress as _compress

__all__ = [
    "Role",
    "State",
    "RpcxConnection",
    "ConnectionStatistics",
    "Event",
    "RequestReceived",
    "HeartbeatReceived",
    "ResponseReceived",
    "PushReceived",
    "HeartbeatAnswered",
    "FrameIgnored",
    "EndOfStream",
    "ConnectionTerminated",
]

_HEAD = struct.Struct(">BBBBQI")
_U32 = struct.Struct(">I")
_MISSING: Any = object()


class Role(enum.Enum):
    """Which end of the connection this object plays."""

    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    OPEN = "open"
    #: the peer ended its side (EOF) while a server still owes it replies; those may still be sent
    DRAINING = "draining"
    CLOSED = "closed"


# -- events ------------------------------------------------------------------------------------------
class Event:
    """Base of everything :meth:`RpcxConnection.receive_data` and :meth:`~RpcxConnection.handle_timer`
    return. Events are plain slotted objects (built on every call, so cheaper than dataclasses)."""

    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"


class RequestReceived(Event):
    """Server role: a request to dispatch (oneway ones too). ``frame`` is its exact wire bytes.

    The server owes the connection one :meth:`RpcxConnection.send_response` (or
    :meth:`~RpcxConnection.send_error`) for it; for a oneway request that sends nothing but still
    closes the account.
    """

    __slots__ = ("message", "frame")

    def __init__(self, message: Message, frame: bytes) -> None:
        self.message = message
        self.frame = frame


class HeartbeatReceived(Event):
    """Server role: a heartbeat. Go echoes it whole (:meth:`RpcxConnection.send_heartbeat_echo`),
    even when it is marked oneway, and skips auth and dispatch."""

    __slots__ = ("message",)

    def __init__(self, message: Message) -> None:
        self.message = message


class ResponseReceived(Event):
    """Client role: the reply to the call sent with seq ``seq``; ``token`` is what the caller gave
    :meth:`RpcxConnection.send_call` (an asyncio future, say). Error replies come here too
    (``message.error``).

    A plain reply (status normal, no metadata, not compressed: nearly every reply) is not parsed
    into a :class:`Message` unless ``message`` is asked for: ``payload`` and ``serialize_type`` are
    read straight from the frame. ``plain`` says which kind this is.
    """

    __slots__ = ("seq", "token", "plain", "frame", "payload_offset", "serialize_type", "_message")

    def __init__(self, seq: int, token: Any, message: Message | None = None, *, frame: bytes = b"",
                 payload_offset: int = 0, serialize_type: int = 0) -> None:
        self.seq = seq
        self.token = token
        self._message = message
        #: status normal, no metadata, uncompressed: ``payload`` is the frame's tail
        self.plain = message is None
        self.frame = frame
        self.payload_offset = payload_offset
        self.serialize_type = message.serialize_type if message is not None else serialize_type

    @property
    def message(self) -> Message:
        """The whole reply as a :class:`Message` (parsed on first use for a plain reply)."""
        m = self._message
        if m is None:
            m = self._message = parse_frame(self.frame)
        return m

    @property
    def payload(self) -> bytes:
        """The reply payload (decompressed)."""
        m = self._message
        return m.payload if m is not None else self.frame[self.payload_offset:]

    def __eq__(self, other: object) -> bool:
        if type(other) is not ResponseReceived:
            return NotImplemented
        return (self.seq, self.token, self.message) == (other.seq, other.token, other.message)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ResponseReceived(seq={self.seq!r}, token={self.token!r}, message={self.message!r})"


class PushReceived(Event):
    """Client role: a message the server sent on its own (Go's ``SendMessage``): a oneway request
    that is not a heartbeat."""

    __slots__ = ("message",)

    def __init__(self, message: Message) -> None:
        self.message = message


class HeartbeatAnswered(Event):
    """Client role: the echo of a scheduled heartbeat arrived. ``sent_at`` is the ``now`` it was
    sent at, so ``now - sent_at`` is a round-trip time; the next heartbeat is due one interval after
    ``sent_at`` (an adapter re-arms its timer on this event: it is the one deadline that moves earlier)."""

    __slots__ = ("seq", "sent_at")

    def __init__(self, seq: int, sent_at: float) -> None:
        self.seq = seq
        self.sent_at = sent_at


class FrameIgnored(Event):
    """A well-formed frame that has no place here (say a non-oneway request sent to a client);
    nothing was done with it. ``reason`` says why, for a log line."""

    __slots__ = ("message", "reason")

    def __init__(self, message: Message, reason: str) -> None:
        self.message = message
        self.reason = reason


class EndOfStream(Event):
    """Server role: the peer closed its side while ``outstanding`` replies are still owed. The
    connection is :attr:`State.DRAINING`: send them, and it closes after the last one."""

    __slots__ = ("outstanding",)

    def __init__(self, outstanding: int) -> None:
        self.outstanding = outstanding


class ConnectionTerminated(Event):
    """The connection is over (always the last event). ``error`` is None for a clean end (the peer
    closed between frames), a :class:`~rpcx.errors.ProtocolError` when the peer broke the protocol,
    or a :class:`~rpcx.errors.ConnectionTimeoutError`. ``pending`` maps the seq of every client call
    left without a reply to its token: fail them. ``reason`` is one line for a log."""

    __slots__ = ("error", "reason", "pending")

    def __init__(self, error: Exception | None, reason: str, pending: dict[int, Any]) -> None:
        self.error = error
        self.reason = reason
        self.pending = pending


class ConnectionStatistics:
    """A frozen snapshot of :meth:`RpcxConnection.statistics`."""

    __slots__ = ("state", "pending", "outstanding", "buffered", "frames_received", "late_responses")

    def __init__(self, state: State, pending: int, outstanding: int, buffered: int, frames_received: int,
                 late_responses: int) -> None:
        self.state = state
        self.pending = pending
        self.outstanding = outstanding
        self.buffered = buffered
        self.frames_received = frames_received
        self.late_responses = late_responses

    def __repr__(self) -> str:
        return "ConnectionStatistics(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"


# -- the connection ----------------------------------------------------------------------------------
class RpcxConnection:
    """The protocol state of one rpcx connection; see the module docstring.

    Options:
        limits: inbound frame size limits (on by default).
        read_timeout: end the connection when no whole frame has arrived for this many seconds
            (Go's ``WithReadTimeout`` / the client's ``IdleTimeout``). A server does not count the
            time during which it still owes replies. None: never.
        frame_timeout: end the connection when a frame, once started, is not complete after this
            many seconds (the guard against peers that trickle bytes). None: never.
        heartbeat_interval, heartbeat_max_wait: client role only: send a heartbeat every interval
            and end the connection when one is not echoed within ``max_wait`` (Go's
            ``Heartbeat``/``HeartbeatInterval``/``MaxWaitForHeartbeat``).
        decompress: inflate compressed payloads of received frames (False for a proxy that forwards
            them as they are).
        now: the time the connection starts, in the same clock as every later ``now``.
    """

    __slots__ = (
        "role",
        "state",
        "error",
        "read_timeout",
        "frame_timeout",
        "last_received",
        "partial_since",
        "outstanding",
        "frames_received",
        "late_responses",
        "_decoder",
        "_max_unzip",
        "_decompress",
        "_next_seq",
        "_pending",
        "_out",
        "_heartbeat",
        "_routes",
    )

    def __init__(
        self,
        role: Role,
        *,
        limits: Limits = Limits(),
        read_timeout: float | None = None,
        frame_timeout: float | None = None,
        heartbeat_interval: float | None = None,
        heartbeat_max_wait: float = 30.0,
        decompress: bool = True,
        now: float = 0.0,
    ) -> None:
        if heartbeat_interval is not None and role is not Role.CLIENT:
            raise LocalProtocolError("heartbeats are sent by clients; a server only echoes them")
        for name, value in (("read_timeout", read_timeout), ("frame_timeout", frame_timeout)):
            if value is not None and value <= 0:
                raise LocalProtocolError(f"{name} must be positive or None, got {value!r}")
        self.role = role
        self.state = State.OPEN
        #: why the connection ended (None while open, or after a clean end)
        self.error: Exception | None = None
        self.read_timeout = read_timeout
        self.frame_timeout = frame_timeout
        #: when the last whole frame arrived (or the connection started). An adapter that serves a
        #: read without feeding it here (the server's hot path) sets it, so the read timeout holds.
        self.last_received = now
        #: when the frame that is still incomplete started arriving; None exactly when no partial
        #: frame is buffered (a cheap test for adapters that look before feeding a read)
        self.partial_since: float | None = None
        #: server role: requests received and not yet answered (oneway ones until they finish)
        self.outstanding = 0
        self.frames_received = 0
        #: client role: replies that arrived for calls no longer pending (timed out), dropped as Go does
        self.late_responses = 0
        self._decoder = FrameDecoder(limits, decompress=decompress)
        self._max_unzip = limits.max_decompressed_length
        self._decompress = decompress
        self._next_seq = 0
        self._pending: dict[int, Any] = {}
        self._out: list[bytes] = []
        #: (service path, method) -> its encoded route sections, for send_call
        self._routes: dict[tuple[str, str], bytes] = {}
        self._heartbeat = (
            HeartbeatSchedule(heartbeat_interval, heartbeat_max_wait, now) if heartbeat_interval is not None else None
        )

    # -- read-only views ----------------------------------------------------------------------------
    @property
    def buffered(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return self._decoder.buffered

    @property
    def max_message_length(self) -> int:
        """The inbound frame limit (0: none)."""
        return self._decoder.max_message_length

    @property
    def pending_count(self) -> int:
        """Client role: calls sent and not yet answered."""
        return len(self._pending)

    def statistics(self) -> ConnectionStatistics:
        """A frozen snapshot of the connection's counters."""
        return ConnectionStatistics(self.state, len(self._pending), self.outstanding, self._decoder.buffered,
                                    self.frames_received, self.late_responses)

    # -- receiving ----------------------------------------------------------------------------------
    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Take bytes from the peer (``b""``: the peer closed its side) and return the events they
        complete, in order. Frames that arrived whole before bad bytes are still returned, followed
        by the :class:`ConnectionTerminated` that the bad bytes cause."""
        if self.state is State.CLOSED:
            return []
        if not data:
            return self._eof()
        decoder = self._decoder
        error: ProtocolError | None = None
        try:
            frames = decoder.feed_frames(data)
        except ProtocolError as exc:
            frames = getattr(exc, "frames", [])
            error = exc
        if decoder.buffered:
            if frames or self.partial_since is None:
                self.partial_since = now
        else:
            self.partial_since = None
        events: list[Event] = []
        if frames:
            self.last_received = now
            self.frames_received += len(frames)
            client = self.role is Role.CLIENT
            pending = self._pending
            for frame in frames:
                if self.state is State.CLOSED:
                    break
                if client:
                    # a plain reply (Response, no heartbeat or compression bits, no metadata) is
                    # matched from its header alone; anything else is parsed whole below
                    head = peek_route(frame)
                    if head is not None and (head[1] & 0xDC) == 0x80 and not head[5]:
                        token = pending.pop(head[3], _MISSING)
                        if token is _MISSING:
                            self.late_responses += 1
                        else:
                            events.append(ResponseReceived(head[3], token, None, frame=frame,
                                                           payload_offset=head[6], serialize_type=head[2] >> 4))
                        continue
                self._frame(frame, events)
        if error is not None and self.state is not State.CLOSED:
            events.append(self._terminate(error, str(error)))
        return events

    def _frame(self, frame: bytes, events: list[Event]) -> None:
        try:
            msg = parse_frame(frame, max_decompressed_length=self._max_unzip, decompress=self._decompress)
        except ProtocolError as exc:
            events.append(self._terminate(exc, str(exc)))
            return
        if self.role is Role.SERVER:
            if msg.message_type == MessageType.RESPONSE:
                # Go would run it as a request; a response sent to a server is a confused or hostile
                # peer: say so (unless it asked for no reply) and end the connection
                reason = f"it sent a response frame (seq {msg.seq}) to a server"
                if not msg.oneway:
                    self._out.append(encode(make_response(msg, b"", None, "rpcx: unexpected response frame sent to a server")))
                events.append(self._terminate(ProtocolError(reason), reason))
            elif msg.heartbeat:
                events.append(HeartbeatReceived(msg))
            else:
                self.outstanding += 1
                events.append(RequestReceived(msg, frame))
            return
        # client role
        if msg.message_type == MessageType.RESPONSE:
            hb = self._heartbeat
            if msg.heartbeat and hb is not None:
                sent_at = hb.sent_at
                if hb.answered(msg.seq):
                    events.append(HeartbeatAnswered(msg.seq, sent_at))
                    return
            try:
                token = self._pending.pop(msg.seq)
            except KeyError:
                self.late_responses += 1  # a late reply to a call that timed out; Go drops it silently
                return
            # the frame rides along so a proxy can forward the reply as it came (payload untouched)
            events.append(ResponseReceived(msg.seq, token, msg, frame=frame))
        elif msg.oneway and not msg.heartbeat:
            events.append(PushReceived(msg))
        else:
            events.append(FrameIgnored(msg, f"a request frame (seq {msg.seq}) that is not a push was sent to a client"))

    def _eof(self) -> list[Event]:
        if self._decoder.buffered:
            held = self._decoder.buffered
            err = TruncatedFrameError(f"connection closed in the middle of a frame ({held} bytes buffered)")
            return [self._terminate(err, str(err))]
        if self.role is Role.SERVER and self.outstanding and self.state is State.OPEN:
            self.state = State.DRAINING
            return [EndOfStream(self.outstanding)]
        return [self._terminate(None, "the peer closed the connection")]

    def _terminate(self, error: Exception | None, reason: str) -> ConnectionTerminated:
        self.state = State.CLOSED
        self.error = error
        pending, self._pending = self._pending, {}
        return ConnectionTerminated(error, reason, pending)

    def close(self, reason: str = "closed locally") -> ConnectionTerminated:
        """End the connection from this side; the returned event lists the calls left pending."""
        if self.state is State.CLOSED:
            return ConnectionTerminated(self.error, reason, {})
        return self._terminate(None, reason)

    # -- timers -------------------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        """The next moment :meth:`handle_timer` has something to do, or None."""
        if self.state is State.CLOSED:
            return None
        t: float | None = None
        if self.frame_timeout is not None and self.partial_since is not None:
            t = self.partial_since + self.frame_timeout
        if self.read_timeout is not None and not self.outstanding:
            r = self.last_received + self.read_timeout
            if t is None or r < t:
                t = r
        if self._heartbeat is not None:
            h = self._heartbeat.next_deadline()
            if t is None or h < t:
                t = h
        return t

    def handle_timer(self, now: float) -> list[Event]:
        """Act on the timers due at ``now``: end the connection on a timeout, or queue a heartbeat
        (then :meth:`data_to_send` has it). Calling it early, or late, is harmless."""
        if self.state is State.CLOSED:
            return []
        if self.frame_timeout is not None and self.partial_since is not None and now - self.partial_since >= self.frame_timeout:
            err = ConnectionTimeoutError(
                f"a frame was not completed within {self.frame_timeout:g}s ({self._decoder.buffered} bytes buffered)"
            )
            return [self._terminate(err, str(err))]
        if self.read_timeout is not None and not self.outstanding and now - self.last_received >= self.read_timeout:
            err = ReadTimeoutError(f"no request for {self.read_timeout:g}s (read timeout)")
            return [self._terminate(err, str(err))]
        hb = self._heartbeat
        if hb is not None:
            if hb.expired(now):
                err = ConnectionTimeoutError(f"heartbeat not answered within {hb.max_wait:g}s")
                return [self._terminate(err, str(err))]
            if hb.due(now):
                seq = self._allocate_seq()
                # Go sends time.Now().UnixNano(); the server only echoes it, so the caller's clock will do
                self._out.append(encode(heartbeat_request(seq, int(now * 1e9))))
                hb.sent(seq, now)
        return []

    def data_to_send(self) -> bytes:
        """Bytes the connection produced on its own (heartbeats, the reply to a response frame sent
        to a server); ``send_*`` methods return theirs directly."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    # -- sending: client role -----------------------------------------------------------------------
    def _allocate_seq(self) -> int:
        seq = self._next_seq
        if seq > MAX_SEQ:
            raise LocalProtocolError("this connection has used every seq the 8-byte field holds")
        self._next_seq = seq + 1
        return seq

    def _check_client(self) -> None:
        if self.role is not Role.CLIENT:
            raise LocalProtocolError("only a client connection sends calls")
        if self.state is not State.OPEN:
            raise LocalProtocolError(f"the connection is {self.state.value}: {self.error or 'nothing can be sent'}")

    def send_call(
        self,
        service_path: str,
        service_method: str,
        payload: bytes,
        *,
        serialize_type: int = SerializeType.NONE,
        metadata: Mapping[str, str] | None = None,
        compress_type: int = 0,
        oneway: bool = False,
        token: Any = None,
    ) -> tuple[int, bytes]:
        """A call: allocate its seq, remember ``token`` until the reply (unless ``oneway``), and
        return ``(seq, frame)``. The payload is compressed with ``compress_type`` only when it is
        longer than 1024 bytes, as Go's client does."""
        # the client's per-call path: the checks of _check_client and _allocate_seq, inlined
        if self.state is not State.OPEN or self.role is not Role.CLIENT:
            self._check_client()
        if not 0 <= serialize_type <= 15:
            raise LocalProtocolError(f"serialize type {serialize_type} does not fit the 4-bit field")
        seq = self._next_seq
        if seq > MAX_SEQ:
            self._allocate_seq()  # raises
        if compress_type and len(payload) > COMPRESS_THRESHOLD:
            payload = _compress(compress_type, payload)
            flags = (compress_type & 0x7) << 2
        else:
            flags = 0
        route = self._routes.get((service_path, service_method))
        if route is None:
            if len(self._routes) >= 1024:  # callers naming endless methods must not grow it for ever
                self._routes.clear()
            route = self._routes[(service_path, service_method)] = encode_route(service_path, service_method)
        if metadata:
            meta = encode_metadata(metadata)
            head = _HEAD.pack(MAGIC, 0, flags | (0x20 if oneway else 0), serialize_type << 4, seq,
                              len(route) + 8 + len(meta) + len(payload))
            frame = b"".join((head, route, _U32.pack(len(meta)), meta, _U32.pack(len(payload)), payload))
        else:
            head = _HEAD.pack(MAGIC, 0, flags | (0x20 if oneway else 0), serialize_type << 4, seq,
                              len(route) + 8 + len(payload))
            frame = b"".join((head, route, b"\x00\x00\x00\x00", _U32.pack(len(payload)), payload))
        self._next_seq = seq + 1
        if not oneway:
            self._pending[seq] = token
        return seq, frame

    def send_request(self, msg: Message, token: Any = None) -> tuple[int, bytes]:
        """Like :meth:`send_call` for a whole :class:`Message` (a heartbeat ping, a raw request);
        its ``seq`` is replaced by the connection's next one."""
        self._check_client()
        seq = self._allocate_seq()
        frame = encode(msg, seq=seq)
        if not msg.oneway:
            self._pending[seq] = token
        return seq, frame

    def send_frame(self, frame: bytes | bytearray, token: Any = None) -> tuple[int, bytes | bytearray]:
        """Forward a request frame received elsewhere, unchanged but for its seq (a proxy's send):
        nothing is parsed, decompressed or re-encoded. A ``bytearray`` is rewritten in place."""
        self._check_client()
        if len(frame) < 16 or frame[0] != MAGIC or frame[2] & 0x80:
            raise LocalProtocolError("send_frame takes a whole request frame")
        seq = self._allocate_seq()
        out = rewrite_seq(frame, seq)
        if not frame[2] & 0x20:
            self._pending[seq] = token
        return seq, out  # type: ignore[return-value]

    def forget(self, seq: int) -> Any:
        """Stop waiting for the reply to ``seq`` (the call timed out or was cancelled; Go sends
        nothing on the wire either). A reply that still arrives is dropped. Returns its token."""
        return self._pending.pop(seq, None)

    # -- sending: server role -----------------------------------------------------------------------
    def finish_request(self, now: float | None = None) -> None:
        """Close the account of one :class:`RequestReceived` without :meth:`send_response` building
        the reply (a server that builds replies itself, as its fast path does, or a oneway request
        that ran). With ``now``, the read timeout counts from then once nothing more is owed. Once
        a draining connection owes nothing, :attr:`state` turns CLOSED."""
        if self.outstanding > 0:
            self.outstanding -= 1
            if not self.outstanding and now is not None and now > self.last_received:
                self.last_received = now
        if self.state is State.DRAINING and not self.outstanding:
            self.state = State.CLOSED  # the peer left; the last reply it was owed is out

    def send_response(
        self,
        request: Message,
        payload: bytes = b"",
        metadata: dict[str, str] | None = None,
        *,
        error: str | None = None,
    ) -> bytes:
        """Answer ``request`` (from a :class:`RequestReceived`) as Go does (see
        :func:`~rpcx.protocol.message.make_response`); ``error`` makes it an error reply. A oneway
        request gets nothing (``b""``), not even an error. Once a draining connection has answered
        everything, :attr:`state` turns CLOSED: close the transport after writing."""
        if self.role is not Role.SERVER:
            raise LocalProtocolError("only a server connection sends responses")
        self.finish_request()
        if request.oneway:
            return b""
        return encode(make_response(request, payload, metadata, error))

    def send_heartbeat_echo(self, request: Message) -> bytes:
        """The echo of a heartbeat: the same frame with the Response bit (sent even when oneway)."""
        if self.role is not Role.SERVER:
            raise LocalProtocolError("only a server connection echoes heartbeats")
        return encode(heartbeat_echo(request))

    def send_push(self, msg: Message) -> bytes:
        """A server push (Go's ``SendMessage``): ``msg`` as a oneway request, with the seq the
        caller chose (Go uses one server-wide counter; clients tell pushes apart by their flags)."""
        if self.role is not Role.SERVER:
            raise LocalProtocolError("only a server connection pushes")
        if self.state is State.CLOSED:
            raise ConnectionClosedError(f"connection is shut down: {self.error or 'closed'}")
        if not msg.oneway or msg.message_type != MessageType.REQUEST:
            msg = msg.replace(oneway=True, message_type=MessageType.REQUEST)
        return encode(msg)

    def __repr__(self) -> str:
        return (
            f"<RpcxConnection {self.role.value} {self.state.value} pending={len(self._pending)}"
            f" outstanding={self.outstanding} buffered={self._decoder.buffered}>"
        )
