"""A small, safe filter language for access logs (layer: proxy, no I/O).

An expression is parsed with Python's :mod:`ast` and compiled to nested closures; it is never
given to ``eval``. What it may contain: the field names it was compiled for, ``metadata["key"]``
(a missing key is ``None``), string / number / boolean / ``None`` literals, tuples or lists of
them (for ``in``), comparisons (``== != < <= > >= in not in``, chained), ``and``, ``or``, ``not``
and parentheses. Anything else (calls, attributes, arithmetic, other names) is refused when the
expression is compiled, with a message saying what and at which column. A comparison whose sides
cannot be ordered (``None < 1``) is false rather than an error.

>>> f = compile_filter('rpc_time >= 0.01 or status == "error"', {"rpc_time", "status"})
>>> f({"rpc_time": 0.002, "status": "ok"}, {}), f({"rpc_time": 0.2, "status": "ok"}, {})
(False, True)
>>> compile_filter('metadata["tenant"] in ("a", "b")', set())({}, {"tenant": "b"})
True
>>> compile_filter("__import__('os')", set())
Traceback (most recent call last):
...
rpcx.proxy.expr.ExpressionError: column 1: calls are not allowed in a filter
"""

from __future__ import annotations

import ast
import operator
from typing import Any, Callable, Mapping

__all__ = ["ExpressionError", "compile_filter", "Filter"]

#: ``filter(fields, metadata) -> bool``
Filter = Callable[[Mapping[str, Any], Mapping[str, str]], bool]
_Eval = Callable[[Mapping[str, Any], Mapping[str, str]], Any]

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class ExpressionError(ValueError):
    """A filter expression that cannot be compiled; the message says what and where."""


def compile_filter(source: str, fields: set[str] | frozenset[str]) -> Filter:
    """Compile ``source``; the names it may use are ``fields`` and ``metadata``."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"column {exc.offset or 0}: {exc.msg}") from None
    ev = _compile(tree.body, frozenset(fields))

    def run(values: Mapping[str, Any], metadata: Mapping[str, str]) -> bool:
        return bool(ev(values, metadata))

    return run


def uses_metadata(source: str) -> bool:
    """Does the expression read ``metadata`` (then the call's metadata must be decoded)?"""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return False
    return any(isinstance(n, ast.Name) and n.id == "metadata" for n in ast.walk(tree))


def _err(node: ast.AST, text: str) -> ExpressionError:
    return ExpressionError(f"column {getattr(node, 'col_offset', 0) + 1}: {text}")


def _compile(node: ast.expr, fields: frozenset[str]) -> _Eval:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, fields) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda v, m: all(p(v, m) for p in parts)
        return lambda v, m: any(p(v, m) for p in parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _compile(node.operand, fields)
        return lambda v, m: not inner(v, m)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            neg = -value
            return lambda v, m: neg
    if isinstance(node, ast.Compare):
        left = _compile(node.left, fields)
        ops = []
        for op, right in zip(node.ops, node.comparators):
            fn = _COMPARE.get(type(op))
            if fn is None:
                raise _err(node, f"the comparison {type(op).__name__} is not allowed")
            ops.append((fn, _compile(right, fields)))

        def compare(v: Mapping[str, Any], m: Mapping[str, str]) -> bool:
            a = left(v, m)
            for fn, right_ev in ops:
                b = right_ev(v, m)
                try:
                    if not fn(a, b):
                        return False
                except TypeError:  # None < 1, "a" in None: not an error, just not true
                    return False
                a = b
            return True

        return compare
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, (str, int, float, bool)):
            return lambda v, m: value
        raise _err(node, f"the literal {value!r} is not allowed")
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_compile(e, fields) for e in node.elts]
        return lambda v, m: tuple(i(v, m) for i in items)
    if isinstance(node, ast.Name):
        name = node.id
        if name == "metadata":
            return lambda v, m: m
        if name in ("true", "false", "null"):
            raise _err(node, f"unknown name {name!r}: write True, False or None")
        if name not in fields:
            known = ", ".join(sorted(fields | {"metadata"}))
            raise _err(node, f"unknown field {name!r} (known: {known})")
        return lambda v, m: v.get(name)
    if isinstance(node, ast.Subscript):
        if not (isinstance(node.value, ast.Name) and node.value.id == "metadata"):
            raise _err(node, 'only metadata["key"] may be indexed')
        key = node.slice
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            raise _err(node, 'metadata is indexed by a string literal: metadata["key"]')
        k = key.value
        return lambda v, m: m.get(k)
    if isinstance(node, ast.Call):
        raise _err(node, "calls are not allowed in a filter")
    if isinstance(node, ast.Attribute):
        raise _err(node, "attributes are not allowed in a filter")
    raise _err(node, f"{type(node).__name__} is not allowed in a filter")
