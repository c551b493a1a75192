"""The service table, built once at register time from type hints (layer: server).

A method qualifies when it is public and callable. Its parameters, besides ``self``, are an
optional context (annotated :class:`~rpcx.server.context.Context` or named ``ctx``) and at most one
argument, whose type hint tells the codec what to build (a dataclass, a protobuf message, ``dict``,
``bytes``). The return value is the reply. Sync and ``async def`` methods both work.

Go clients call ``Mul``; Python code names it ``mul``. Each ``snake_case`` method is therefore also
reachable under its ``CamelCase`` name, and :func:`rpc_method` names a method explicitly.
"""

from __future__ import annotations

import inspect
import logging
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import RegistrationError

__all__ = ["MethodInfo", "Service", "build_service", "build_function", "rpc_method", "go_name"]

_ATTR = "__rpcx_name__"

log = logging.getLogger("rpcx.server")


def rpc_method(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Expose a method under an explicit wire name.

    >>> class Arith:
    ...     @rpc_method("Mul")
    ...     def multiply(self, args: dict) -> dict: ...
    >>> sorted(build_service("Arith", Arith()).methods)
    ['Mul']
    """

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, _ATTR, name)
        return fn

    return mark


def go_name(name: str) -> str:
    """The CamelCase wire name Go clients use for a snake_case method.

    >>> go_name("mul"), go_name("get_user_id"), go_name("Mul")
    ('Mul', 'GetUserId', 'Mul')
    """
    return "".join(p[:1].upper() + p[1:] for p in name.split("_") if p)


@dataclass
class MethodInfo:
    name: str
    func: Callable[..., Any]
    is_async: bool
    takes_ctx: bool
    takes_args: bool
    arg_type: Any = None
    reply_type: Any = None


@dataclass
class Service:
    name: str
    methods: dict[str, MethodInfo] = field(default_factory=dict)
    metadata: str = ""


def _inspect(name: str, func: Callable[..., Any]) -> MethodInfo:
    from .context import Context

    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise RegistrationError(f"rpcx.Register: method {name!r} is not a suitable RPC method: {exc}") from None
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:  # noqa: BLE001 - e.g. a string annotation naming a local class
        log.warning("%s: cannot resolve the type hints (%s); its argument will be passed undecoded", name, exc)
        hints = {}
    params = [
        p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    takes_ctx = False
    if params and (hints.get(params[0].name) is Context or params[0].name in ("ctx", "context")):
        takes_ctx = True
        params = params[1:]
    required = [p for p in params if p.default is p.empty]
    if len(required) > 1 or len(params) > 1 and len(required) == len(params):
        raise RegistrationError(
            f"rpcx.Register: method {name!r} is not a suitable RPC method: "
            "it must take (args) or (ctx, args), with at most one argument"
        )
    takes_args = bool(params)
    is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)
    )
    return MethodInfo(
        name=name,
        func=func,
        is_async=is_async,
        takes_ctx=takes_ctx,
        takes_args=takes_args,
        arg_type=hints.get(params[0].name) if params else None,
        reply_type=hints.get("return"),
    )


def build_service(name: str, obj: Any, methods: list[str] | None = None, metadata: str = "") -> Service:
    """Collect the RPC methods of ``obj`` (all public ones, or the ``methods`` whitelist)."""
    if not name:
        raise RegistrationError(f"rpcx.Register: no service name for type {type(obj).__name__}")
    svc = Service(name=name, metadata=metadata)
    cls = type(obj)
    wanted = set(methods) if methods is not None else None
    if wanted is not None and not wanted:
        raise RegistrationError("rpcx.Register: the method list is empty")
    for attr in dir(cls):
        if attr.startswith("_"):
            continue
        raw = inspect.getattr_static(cls, attr)
        if isinstance(raw, (property, staticmethod, classmethod)) or not callable(getattr(obj, attr, None)):
            continue
        func = getattr(obj, attr)
        wire = getattr(func, _ATTR, None)
        names = [wire] if wire else list(dict.fromkeys([attr, go_name(attr)]))
        if wanted is not None and not (wanted & set(names + [attr])):
            continue
        try:
            info = _inspect(names[0], func)
        except RegistrationError as exc:
            if wanted is not None:
                raise  # asked for by name: an error, and nothing is registered (Go v1.9.4)
            log.warning("%s: skipping %s: %s", name, attr, exc)  # Go skips unsuitable methods with a log
            continue
        for n in names:
            svc.methods[n] = info
    if wanted is not None:
        missing = wanted - set(svc.methods) - {a for a in dir(cls)}
        if missing:
            raise RegistrationError(f"rpcx.Register: method {sorted(missing)[0]!r} not found on {cls.__name__}")
    if not svc.methods:
        raise RegistrationError(f"rpcx.Register: type {cls.__name__} has no exported methods of suitable type")
    return svc


def build_function(fn: Callable[..., Any], name: str | None = None) -> list[tuple[str, MethodInfo]]:
    """A plain function as a method; Go names it after the function (here also in CamelCase)."""
    base = name or getattr(fn, _ATTR, None) or getattr(fn, "__name__", None)
    if not base:
        raise RegistrationError("rpcx.RegisterFunction: the function needs a name")
    names = [base] if name else list(dict.fromkeys([base, go_name(base)]))
    info = _inspect(names[0], fn)
    return [(n, info) for n in names]
