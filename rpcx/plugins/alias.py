"""Aliases for service paths and methods (layer: server plugins; Go's ``AliasPlugin``).

Rule: a request for an alias is served by the real service and method; its reply carries the
alias names back, as Go's plugin restores them before the response is written. Uses
``post_read_request`` (and ``pre_write_response``), so the fast path is off while it is added.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Alias"]

#: Go's marker in the request metadata that an alias was applied
_APPLIED = "__aliasAppliedKey"


class Alias:
    """Serve ``alias_path.alias_method`` as ``path.method``.

    >>> a = Alias(); a.alias("Calc", "Times", "Arith", "Mul"); a.target("Calc", "Times")
    ('Arith', 'Mul')
    """

    def __init__(self) -> None:
        self._forward: dict[tuple[str, str], tuple[str, str]] = {}
        self._reverse: dict[tuple[str, str], tuple[str, str]] = {}

    def alias(self, alias_path: str, alias_method: str, path: str, method: str) -> None:
        """Make ``alias_path.alias_method`` call ``path.method``."""
        self._forward[(alias_path, alias_method)] = (path, method)
        self._reverse[(path, method)] = (alias_path, alias_method)

    def target(self, path: str, method: str) -> tuple[str, str] | None:
        """The real service and method for an alias, or None."""
        return self._forward.get((path, method))

    def post_read_request(self, req: Any) -> None:
        real = self._forward.get((req.service_path, req.service_method))
        if real is not None:
            req.service_path, req.service_method = real
            req.metadata = {**(req.metadata or {}), _APPLIED: "true"}

    def pre_write_response(self, req: Any, res: Any, error: str | None) -> None:
        if not req.metadata or req.metadata.get(_APPLIED) != "true":
            return
        names = self._reverse.get((req.service_path, req.service_method))
        if names is not None:
            req.service_path, req.service_method = names
            res.service_path, res.service_method = names
            req.metadata = {k: v for k, v in req.metadata.items() if k != _APPLIED}
