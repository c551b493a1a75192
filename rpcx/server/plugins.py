"""Server plugin hooks, named after Go's (layer: server).

A plugin is any object; each hook is a method it may define, looked up once when the plugin is
added, so an unused hook costs nothing per call. The hooks around a call (``pre_handle_request``,
``pre_call``, ``post_call``, ``pre_write_request``, ``post_write_request``) may be plain or ``async``
functions; the others run synchronously in the read path and must be plain functions
(:meth:`PluginContainer.add` refuses an ``async`` one rather than never awaiting it).

=====================  ==============================================  ==============================
hook                   when                                            effect of raising / returning
=====================  ==============================================  ==============================
register               ``Server.register*``                            error returned to the caller
unregister             shutdown, ``unregister_all``                    collected and logged
register_function      ``Server.register_function``                    error returned to the caller
post_conn_accept       a connection is accepted                        False closes it
post_conn_close        a connection closed                             ignored
post_read_request      a frame was decoded                             an error closes the connection
pre_handle_request     before dispatch, after auth                     ignored (as Go)
pre_call               before the method; may return new args          error response
post_call              after the method; may return a new reply        error response
pre_write_response     before the response is written                  ignored
post_write_response    after it is written                             ignored
pre_write_request      before a push is written                        ignored
post_write_request     after a push is written                         ignored
heartbeat_request      a heartbeat arrived                             ignored
wrap_method            a method's call plan is made (once per method   returns the function to call
                       and codec; not per call)                        in place of the method
error_response         an error reply was built (every path, the fast  ignored
                       path included)
=====================  ==============================================  ==============================

``wrap_method(service_path, service_method, func, is_async)`` and ``error_response(req, error)`` are
this package's own (Go has neither): they let metrics and tracing (:mod:`rpcx.plugins.metrics`,
:mod:`rpcx.plugins.tracing`) see every call without a per-call hook, so the fast path stays on.
``func`` is called as the method is (``func(args)``, ``func(ctx, args)``, ``func(ctx)``, ``func()``);
the wrapper must call it with the same arguments and return its result (an ``async`` function for an
``async`` method). Wrappers of plugins added later wrap those of plugins added earlier.

>>> class Counter:
...     calls = 0
...     def pre_call(self, ctx, service, method, args):
...         Counter.calls += 1
...         return args
>>> pc = PluginContainer(); pc.add(Counter()); len(pc.pre_call)
1
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

__all__ = ["PluginContainer", "HOOKS", "ASYNC_HOOKS", "PER_CALL_HOOKS"]

HOOKS = (
    "register",
    "unregister",
    "register_function",
    "post_conn_accept",
    "post_conn_close",
    "post_read_request",
    "pre_handle_request",
    "pre_call",
    "post_call",
    "pre_write_response",
    "post_write_response",
    "pre_write_request",
    "post_write_request",
    "heartbeat_request",
    "wrap_method",
    "error_response",
)

#: hooks that run around every call: while one is registered, calls take the full dispatch path
#: (plugins with only lifecycle or connection hooks leave the fast path on)
PER_CALL_HOOKS = frozenset(
    {"post_read_request", "pre_handle_request", "pre_call", "post_call", "pre_write_response", "post_write_response"}
)

#: hooks the server awaits; every other hook is called synchronously
ASYNC_HOOKS = frozenset(
    {"pre_handle_request", "pre_call", "post_call", "pre_write_request", "post_write_request"}
)


Hook = Callable[..., Any]


class PluginContainer:
    """Plugins in the order they were added, with one list of bound hooks per hook name."""

    register: list[Hook]
    unregister: list[Hook]
    register_function: list[Hook]
    post_conn_accept: list[Hook]
    post_conn_close: list[Hook]
    post_read_request: list[Hook]
    pre_handle_request: list[Hook]
    pre_call: list[Hook]
    post_call: list[Hook]
    pre_write_response: list[Hook]
    post_write_response: list[Hook]
    pre_write_request: list[Hook]
    post_write_request: list[Hook]
    heartbeat_request: list[Hook]
    wrap_method: list[Hook]
    error_response: list[Hook]

    def __init__(self) -> None:
        self.plugins: list[Any] = []
        #: a hook that runs around every call is registered (the server's fast path is then off)
        self.per_call = False
        #: called after every add/remove (the server forgets its call plans: wrap_method may differ)
        self.on_change: Callable[[], None] | None = None
        for hook in HOOKS:
            setattr(self, hook, [])

    def _update(self) -> None:
        self.per_call = any(getattr(self, hook) for hook in PER_CALL_HOOKS)
        if self.on_change is not None:
            self.on_change()

    def add(self, plugin: Any) -> None:
        """Add a plugin; its hooks run after those of plugins added before it."""
        for hook in HOOKS:
            fn = getattr(plugin, hook, None)
            if hook not in ASYNC_HOOKS and callable(fn) and inspect.iscoroutinefunction(fn):
                raise TypeError(
                    f"{type(plugin).__name__}.{hook} must be a plain function: the server calls it "
                    f"synchronously (async hooks: {', '.join(sorted(ASYNC_HOOKS))})"
                )
        self.plugins.append(plugin)
        for hook in HOOKS:
            fn = getattr(plugin, hook, None)
            if callable(fn):
                getattr(self, hook).append(fn)
        self._update()

    def remove(self, plugin: Any) -> None:
        """Remove a plugin and all its hooks."""
        self.plugins.remove(plugin)
        for hook in HOOKS:
            fn = getattr(plugin, hook, None)
            if callable(fn):
                hooks: list[Callable[..., Any]] = getattr(self, hook)
                hooks[:] = [h for h in hooks if getattr(h, "__self__", None) is not plugin]
        self._update()
