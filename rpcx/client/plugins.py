"""Client plugin hooks for :class:`~rpcx.client.XClient`, named after Go's (layer: client).

A plugin is any object; each hook is a method it may define, looked up when the plugin is added,
so an XClient without plugins pays nothing per call. ``pre_call`` and ``post_call`` may be plain or
``async``; the others are plain functions.

=========================  ===================================  =====================================
hook (Go's name)           when                                 effect of raising / returning
=========================  ===================================  =====================================
pre_call(call, key)        before each attempt on server        the attempt fails with the error
(PreCall)                  ``key`` (each retry is an attempt)   (not retried); a mapping returned
                                                                is added to the attempt's request
                                                                metadata (Go's plugins write the
                                                                context's metadata map instead)
post_call(call, key,       after each attempt; ``value`` is the  logged, the call's result stands
outcome, value)            reply or the exception
(PostCall)
client_connected(key,      a connection was dialled             the dial fails (the connection is
client) (ConnCreated,                                           closed)
ClientConnected)
conn_create_failed(key,    a dial failed                        logged
exc) (ConnCreateFailed)
client_connection_close    XClient closes a connection (a       logged
(key, client)              failure, a server gone, ``aclose``)
(ClientConnectionClose)
wrap_select(select)        when added, or the selector changes  returns the ``select(call)`` to use
(WrapSelect)               (innermost: the plugin added first)
before_encode(msg)         a call or oneway request, its args   return a :class:`Message` to send
(ClientBeforeEncode)       encoded (payload not yet compressed, instead (``msg.replace(...)``) or
                           ``compress_type`` set when it will   None to keep it; raising fails the
                           be), before its frame is built       call, nothing is sent
after_decode(msg)          every reply and server push read on  return a :class:`Message` to use
(ClientAfterDecode)        the connection, parsed and           instead or None; raising fails the
                           decompressed, before it is decoded   call the reply is for (a push is
                           or handed to ``on_push``             logged and dropped)
=========================  ===================================  =====================================

``before_encode`` and ``after_decode`` run inside each :class:`~rpcx.client.Client` the XClient
dials (a plain ``Client(plugins=...)`` runs them too) and must be plain functions. As in Go, a
``send_raw``/``send_frame`` request (a gateway's or a proxy's, sent as it came) and heartbeats do not
pass ``before_encode``; ``after_decode`` sees every reply, raw ones included, except heartbeat
echoes (the protocol core answers those). Not as in Go: ``after_decode`` runs after the reply was
matched to its call by seq, so changing ``seq`` there has no effect; and a raising hook fails the
call instead of being ignored (Go drops the error and stops the chain). With no plugin defining
them, a call builds no :class:`Message` and parses no reply: the fast path is untouched.

>>> class Count:
...     n = 0
...     def pre_call(self, call, key): Count.n += 1
>>> pc = ClientPluginContainer(); pc.add(Count()); len(pc.pre_call), bool(pc)
(1, True)
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

__all__ = ["ClientPluginContainer", "CLIENT_HOOKS"]

CLIENT_HOOKS = (
    "pre_call",
    "post_call",
    "client_connected",
    "conn_create_failed",
    "client_connection_close",
    "wrap_select",
    "before_encode",
    "after_decode",
)

_ASYNC_OK = frozenset({"pre_call", "post_call"})

Hook = Callable[..., Any]


class ClientPluginContainer:
    """Client plugins in the order they were added, one list of bound hooks per hook name."""

    pre_call: list[Hook]
    post_call: list[Hook]
    client_connected: list[Hook]
    conn_create_failed: list[Hook]
    client_connection_close: list[Hook]
    wrap_select: list[Hook]
    #: shared with every Client the XClient dials: add and remove change these lists in place
    before_encode: list[Hook]
    after_decode: list[Hook]

    def __init__(self) -> None:
        self.plugins: list[Any] = []
        for hook in CLIENT_HOOKS:
            setattr(self, hook, [])
        #: called after every add/remove (XClient re-wraps its selector)
        self.on_change: Callable[[], None] | None = None

    def add(self, plugin: Any) -> None:
        """Add a plugin; its hooks run after those of plugins added before it."""
        for hook in CLIENT_HOOKS:
            fn = getattr(plugin, hook, None)
            if hook not in _ASYNC_OK and callable(fn) and inspect.iscoroutinefunction(fn):
                raise TypeError(f"{type(plugin).__name__}.{hook} must be a plain function "
                                f"(async hooks: {', '.join(sorted(_ASYNC_OK))})")
        self.plugins.append(plugin)
        for hook in CLIENT_HOOKS:
            fn = getattr(plugin, hook, None)
            if callable(fn):
                getattr(self, hook).append(fn)
        if self.on_change is not None:
            self.on_change()

    def remove(self, plugin: Any) -> None:
        """Remove a plugin and all its hooks."""
        self.plugins.remove(plugin)
        for hook in CLIENT_HOOKS:
            hooks: list[Hook] = getattr(self, hook)
            hooks[:] = [h for h in hooks if getattr(h, "__self__", None) is not plugin]
        if self.on_change is not None:
            self.on_change()

    def wrap(self, select: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
        """``select`` wrapped by every ``wrap_select`` hook, the first added innermost."""
        for w in self.wrap_select:
            select = w(select)
        return select

    def __bool__(self) -> bool:
        return bool(self.plugins)
