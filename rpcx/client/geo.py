"""Closest-server selection (layer: client), as Go rpcx's geo selector (``Closest``): the server whose
metadata ``latitude``/``longitude`` is nearest the client by the haversine distance on a sphere of
Go's radius, 6378100 m; servers equally near are chosen among at random.

Rule: servers without both coordinates (or with ones that are not numbers) are skipped, as Go; when
none has them, there is no server for the call. The client's own coordinates come from
``Option.latitude``/``Option.longitude`` or :meth:`XClient.config_geo_selector` (Go's
``ConfigGeoSelector``); a selection without them is a clear error.
"""

from __future__ import annotations

import math
import random
from urllib.parse import parse_qs

from .selector import Call

__all__ = ["distance", "ClosestSelector", "EARTH_RADIUS"]

#: Go's ``getDistanceFrom`` radius, in metres
EARTH_RADIUS = 6378100.0


def distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in metres between two points in degrees (Go's ``getDistanceFrom``).

    >>> round(distance(0, 0, 0, 1))
    111319
    """
    la1, lo1, la2, lo2 = (math.radians(v) for v in (lat1, lon1, lat2, lon2))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS * math.asin(math.sqrt(h))


def _coordinates(metadata: str) -> tuple[float, float] | None:
    q = parse_qs(metadata) if metadata else {}
    try:
        return float(q["latitude"][0]), float(q["longitude"][0])
    except (KeyError, IndexError, ValueError):
        return None


class ClosestSelector:
    """The nearest server to ``(latitude, longitude)``.

    >>> s = ClosestSelector({"tcp@sh:1": "latitude=31.2&longitude=121.5",
    ...                      "tcp@ny:1": "latitude=40.7&longitude=-74.0", "tcp@x:1": ""}, 39.9, 116.4)
    >>> s.select(Call("Arith", "Mul"))
    'tcp@sh:1'
    """

    def __init__(
        self, servers: dict[str, str] | None = None, latitude: float | None = None, longitude: float | None = None,
    ) -> None:
        self.latitude = latitude
        self.longitude = longitude
        self._servers: list[tuple[str, float, float]] = []
        self.update_server(servers or {})

    def select(self, call: Call) -> str | None:
        """The nearest server (one of the nearest, at random, on a tie); None when none has coordinates."""
        if self.latitude is None or self.longitude is None:
            raise RuntimeError(
                "SelectMode.CLOSEST needs the client's coordinates: Option(latitude=..., longitude=...) "
                "or XClient.config_geo_selector(latitude, longitude)"
            )
        best: list[str] = []
        least = math.inf
        for key, lat, lon in self._servers:
            d = distance(self.latitude, self.longitude, lat, lon)
            if d < least:
                best, least = [key], d
            elif d == least:
                best.append(key)
        if not best:
            return None
        return best[0] if len(best) == 1 else random.choice(best)

    def update_server(self, servers: dict[str, str]) -> None:
        """Use the servers that have coordinates."""
        out = []
        for key, md in servers.items():
            c = _coordinates(md)
            if c is not None:
                out.append((key, c[0], c[1]))
        self._servers = out
