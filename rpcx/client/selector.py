"""Server selection (layer: client). Random and RoundRobin here; the other Go selectors plug in the same way.

Before selection, servers are filtered as Go filters them: ``state=inactive`` is dropped, and when
a group is configured, servers whose ``group`` values do not include it are dropped.
"""

from __future__ import annotations

import random
from typing import Any, Protocol
from urllib.parse import parse_qs

from .discovery import KVPair
from .options import SelectMode

__all__ = ["Selector", "RandomSelector", "RoundRobinSelector", "new_selector", "filter_servers"]


class Selector(Protocol):
    def select(self, service_path: str, service_method: str, args: Any) -> str: ...

    def update_server(self, servers: dict[str, str]) -> None: ...


def filter_servers(pairs: list[KVPair], group: str = "") -> dict[str, str]:
    """Drop inactive servers and, with ``group``, servers outside it.

    >>> filter_servers([KVPair("a", "state=inactive"), KVPair("b", "group=x&group=y"), KVPair("c")], "y")
    {'b': 'group=x&group=y'}
    """
    out: dict[str, str] = {}
    for p in pairs:
        q = parse_qs(p.value) if p.value else {}
        if "inactive" in q.get("state", []):
            continue
        if group and group not in q.get("group", []):
            continue
        out[p.key] = p.value
    return out


class RandomSelector:
    def __init__(self, servers: dict[str, str] | None = None) -> None:
        self._keys: list[str] = list(servers or {})

    def select(self, service_path: str, service_method: str, args: Any) -> str:
        if not self._keys:
            return ""
        return random.choice(self._keys)

    def update_server(self, servers: dict[str, str]) -> None:
        self._keys = list(servers)


class RoundRobinSelector:
    """Cycle through the servers in order.

    >>> s = RoundRobinSelector({"a": "", "b": ""}); [s.select("", "", None) for _ in range(3)]
    ['a', 'b', 'a']
    """

    def __init__(self, servers: dict[str, str] | None = None) -> None:
        self._keys: list[str] = list(servers or {})
        self._i = 0

    def select(self, service_path: str, service_method: str, args: Any) -> str:
        if not self._keys:
            return ""
        key = self._keys[self._i % len(self._keys)]
        self._i = (self._i + 1) % len(self._keys)
        return key

    def update_server(self, servers: dict[str, str]) -> None:
        self._keys = list(servers)


def new_selector(mode: SelectMode | int, servers: dict[str, str]) -> Selector:
    if mode == SelectMode.RANDOM:
        return RandomSelector(servers)
    if mode == SelectMode.ROUND_ROBIN:
        return RoundRobinSelector(servers)
    raise NotImplementedError(f"select mode {SelectMode(mode).name} is not available yet; use RANDOM or ROUND_ROBIN, or set_selector()")
