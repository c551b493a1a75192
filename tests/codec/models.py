"""Dataclasses standing in for the Go structs of the codec tests."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional

from rpcx.codec import Uint64


@dataclass
class Args:
    """Go: ``type Args struct { A, B int }``."""

    A: int = 0
    B: int = 0


@dataclass
class Reply:
    """Go: ``type Reply struct { C int }``."""

    C: int = 0


@dataclass
class UReply:
    """Go: ``type UReply struct { C uint64 }``."""

    C: Uint64 = 0


@dataclass
class NoDefaults:
    """Every field required in Python; Go would leave zero values for missing keys."""

    I: int
    F: float
    S: str
    T: bool
    D: bytes
    L: list[int]
    M: dict[str, int]
    O: Optional[int]


@dataclass
class Inner:
    Name: str = ""
    Tags: list[str] = field(default_factory=list)


class Color(enum.IntEnum):
    RED = 1
    BLUE = 2


@dataclass
class Outer:
    ID: int = 0
    Data: bytes = b""
    Child: Inner = field(default_factory=Inner)
    MaybeChild: Optional[Inner] = None
    Children: list[Inner] = field(default_factory=list)
    ByName: dict[str, Inner] = field(default_factory=dict)
    Scores: dict[str, float] = field(default_factory=dict)
    Maybe: Optional[int] = None
    Union: int | None = None
    Color: Color = Color.RED


@dataclass
class Renamed:
    """Go: ``UserID int `msgpack:"uid"` `` / `` `json:"uid"` ``."""

    UserID: int = field(default=0, metadata={"rpcx": "uid"})
    Name: str = ""
