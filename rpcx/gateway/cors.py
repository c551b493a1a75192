"""CORS for the gateway, as Go rpcx's gateway does it with github.com/rs/cors v1.11.1 (layer:
gateway, stdlib only).

A server with CORS options answers a preflight (``OPTIONS`` with
``Access-Control-Request-Method``) itself, with ``204`` and the ``Access-Control-Allow-*`` headers
when the origin, method and headers are allowed (with only ``Vary`` when not), and adds
``Vary: Origin`` and ``Access-Control-Allow-Origin`` (and the exposed headers and credentials
flag) to every other answer. The options are rs/cors's, with its defaults: every origin; ``GET``,
``POST`` and ``HEAD``; the headers ``accept``, ``content-type`` and ``x-requested-with``.

>>> cors = CorsOptions.allow_all()
>>> cors.preflight({"Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
{'Vary': 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers', 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'POST'}
>>> CorsOptions(allowed_origins=("https://a.example",)).actual("GET", {"Origin": "https://b.example"})
{'Vary': 'Origin'}
"""

from __future__ import annotations

from dataclasses import dataclass

from .gohttp import canonical

__all__ = ["CorsOptions"]

_MAX_EMPTY_ELEMENTS = 16


@dataclass(frozen=True)
class CorsOptions:
    """rs/cors ``Options`` (the fields rpcx users set). Empty tuples mean rs/cors's defaults."""

    allowed_origins: tuple[str, ...] = ()
    allowed_methods: tuple[str, ...] = ()
    allowed_headers: tuple[str, ...] = ()
    exposed_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    #: seconds; 0 sends no Access-Control-Max-Age, a negative value sends 0
    max_age: int = 0
    options_success_status: int = 204

    @classmethod
    def allow_all(cls) -> "CorsOptions":
        """Go's ``server.AllowAllCORSOptions()``."""
        return cls(allowed_origins=("*",), allowed_methods=("HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"),
                   allowed_headers=("*",))

    # -- the rules --------------------------------------------------------------------------------
    def _origin_allowed(self, origin: str) -> tuple[bool, bool]:
        """``(allowed, all origins allowed)``."""
        origins = [o.lower() for o in self.allowed_origins]
        if not origins or "*" in origins:
            return True, True
        origin = origin.lower()
        for o in origins:
            if "*" in o:
                pre, _, suf = o.partition("*")
                if len(origin) >= len(pre) + len(suf) and origin.startswith(pre) and origin.endswith(suf):
                    return True, False
            elif o == origin:
                return True, False
        return False, False

    def _method_allowed(self, method: str) -> bool:
        methods = self.allowed_methods or ("GET", "POST", "HEAD")
        return method == "OPTIONS" or method in methods

    def _headers_allowed(self, value: str) -> bool:
        """rs/cors's ``SortedSet.Accepts``: lower-case names, each allowed, sorted, unique."""
        if "*" in self.allowed_headers:
            return True
        allowed = sorted(set(h.lower() for h in self.allowed_headers) or {"accept", "content-type", "x-requested-with"})
        pos = {name: i for i, name in enumerate(allowed)}
        last, empty = -1, 0
        for raw in value.split(","):
            name = raw
            if name[:1] in (" ", "\t"):
                name = name[1:]
            if name[-1:] in (" ", "\t"):
                name = name[:-1]
            if name[:1] in (" ", "\t") or name[-1:] in (" ", "\t"):
                return False  # more whitespace than rs/cors tolerates
            if not name:
                empty += 1
                if empty > _MAX_EMPTY_ELEMENTS:
                    return False
                continue
            i = pos.get(name)
            if i is None or i <= last:
                return False
            last = i
        return True

    def is_preflight(self, method: str, h: dict[str, str]) -> bool:
        """An ``OPTIONS`` request with ``Access-Control-Request-Method``: rs/cors answers it itself."""
        return method == "OPTIONS" and bool(h.get("Access-Control-Request-Method"))

    def preflight(self, h: dict[str, str]) -> dict[str, str]:
        """The headers of the answer to a preflight request (``h``: canonical name -> first value)."""
        out = {"Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
        origin = h.get("Origin", "")
        allowed, all_origins = self._origin_allowed(origin)
        if not origin or not allowed:
            return out
        method = h.get("Access-Control-Request-Method", "")
        if not self._method_allowed(method):
            return out
        req_headers = h.get("Access-Control-Request-Headers")
        if req_headers is not None and not self._headers_allowed(req_headers):
            return out
        out["Access-Control-Allow-Origin"] = "*" if all_origins else origin
        out["Access-Control-Allow-Methods"] = method
        if req_headers:
            out["Access-Control-Allow-Headers"] = req_headers
        if self.allow_credentials:
            out["Access-Control-Allow-Credentials"] = "true"
        if self.max_age:
            out["Access-Control-Max-Age"] = str(max(self.max_age, 0))
        return out

    def actual(self, method: str, h: dict[str, str]) -> dict[str, str]:
        """The headers CORS adds to the answer to any other request."""
        out = {"Vary": "Origin"}
        origin = h.get("Origin", "")
        allowed, all_origins = self._origin_allowed(origin)
        if not origin or not allowed or not self._method_allowed(method):
            return out
        out["Access-Control-Allow-Origin"] = "*" if all_origins else origin
        if self.exposed_headers:
            out["Access-Control-Expose-Headers"] = ", ".join(canonical(x) for x in self.exposed_headers)
        if self.allow_credentials:
            out["Access-Control-Allow-Credentials"] = "true"
        return out
