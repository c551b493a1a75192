"""The Python twin of tests/interop/types/types.go: the same structs as dataclasses, the same
samples, and the ``Types`` service (Echo, EchoItem). Run as a script it serves ``Types``:

    python tests/interop/types_service.py tcp@127.0.0.1:0     # prints "serving <address>"
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rpcx.codec import Duration, Float32, Int8, Int16, Int32, Int64, Time, Uint, Uint8, Uint16, Uint32, Uint64  # noqa: E402

UTC = timezone.utc
#: time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.UTC)
WHEN = Time.from_unix_nano(1709212455123456789)


@dataclass
class Base:
    ID: Int64 = 0
    Note: str = ""


@dataclass
class Item:
    SKU: str = ""
    Name: str = ""
    Price: float = 0.0
    Tags: Optional[list[str]] = None       # Go nil slice <-> None, empty slice <-> []
    Attrs: Optional[dict[str, int]] = None
    Image: Optional[bytes] = None
    Updated: datetime = datetime(1, 1, 1, tzinfo=UTC)
    Parent: Optional[Item] = None


@dataclass
class Everything(Base):  # Go: struct { Base; ... } - embedded fields travel flattened
    B: bool = False
    I: int = 0
    I8: Int8 = 0
    I16: Int16 = 0
    I32: Int32 = 0
    I64: Int64 = 0
    U: Uint = 0
    U8: Uint8 = 0
    U16: Uint16 = 0
    U32: Uint32 = 0
    U64: Uint64 = 0
    F32: Float32 = 0.0
    F64: float = 0.0
    S: str = ""
    Bytes: Optional[bytes] = None
    Strs: Optional[list[str]] = None
    Arr: tuple[Int32, Int32, Int32] = (0, 0, 0)
    IntMap: Optional[dict[str, int]] = None
    ByInt: Optional[dict[int, str]] = None
    Ptr: Optional[int] = None
    Nested: Item = field(default_factory=Item)
    Items: Optional[list[Item]] = None
    When: datetime = datetime(1, 1, 1, tzinfo=UTC)
    Wait: Duration = 0
    Any: Any = None
    Renamed: str = field(default="", metadata={"rpcx": "renamed_field"})


def samples() -> dict[str, Everything]:
    """The same values as types.Samples() in Go."""
    full = Everything(
        ID=7, Note="<b>&\u2028", B=True, I=-42, I8=-128, I16=32767, I32=-(2**31), I64=1 << 62,
        U=1 << 40, U8=255, U16=65535, U32=2**32 - 1, U64=2**64 - 1, F32=1.5, F64=3.141592653589793,
        S="héllo, 世界", Bytes=bytes([0, 1, 2, 255]), Strs=["a", "", "c"], Arr=(1, -2, 3),
        IntMap={"x": 1, "y": -1}, ByInt={1: "one", 10: "ten", 2: "two"}, Ptr=99,
        Nested=Item(SKU="SKU-1", Name="child", Price=9.99, Tags=["t"], Attrs={"w": 3}, Image=b"img", Updated=WHEN,
                    Parent=Item(SKU="SKU-0", Name="parent", Updated=Time.from_unix_nano(WHEN.unix_nano() - 3600 * 10**9))),
        Items=[Item(SKU="a", Updated=WHEN), Item(SKU="b", Tags=[])],
        When=WHEN, Wait=1_500_000_000, Any="anything", Renamed="by tag",
    )
    empty = Everything(
        Bytes=b"", Strs=[], IntMap={}, ByInt={}, Ptr=0, Items=[], When=WHEN,
        Nested=Item(Tags=[], Attrs={}, Image=b"", Updated=WHEN),
    )
    return {
        "full": full,
        "nil": Everything(),
        "empty": empty,
        "min": Everything(I=-(2**63), I8=-128, I16=-32768, I32=-(2**31), I64=-(2**63), F32=-3.4028234663852886e38,
                          F64=-1.7976931348623157e308, Wait=-1, When=Time.from_unix_nano(-62135596800 * 10**9 + 1)),
        "max": Everything(I=2**63 - 1, I8=127, I16=32767, I32=2**31 - 1, I64=2**63 - 1, U=2**64 - 1, U8=255,
                          U16=65535, U32=2**32 - 1, U64=2**64 - 1, F32=3.4028234663852886e38,
                          F64=1.7976931348623157e308, Wait=2**63 - 1,
                          When=Time.from_unix_nano(253402300799 * 10**9 + 999999999)),
    }


def sample_items() -> dict[str, Item]:
    """The same values as types.SampleItems() in Go (the golden frames' Items)."""
    return {
        "time": Item(SKU="T-1", Name="clock", Price=2.5, Tags=["x"], Attrs={"n": 1}, Image=b"\x01\x02", Updated=WHEN),
        "nil": Item(SKU="N-1", Updated=datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)),
        "empty": Item(SKU="E-1", Tags=[], Attrs={}, Image=b"", Updated=WHEN),
    }


class Types:
    """Every method returns its argument, re-encoded from the Python value it was decoded into."""

    def echo(self, args: Everything) -> Everything:
        return args

    def echo_item(self, args: Item) -> Item:
        return args


async def _serve(address: str) -> int:
    from rpcx import Server

    server = Server()
    server.register_name("Types", Types())
    actual = await server.start(address)
    print(f"serving {actual}", flush=True)
    await server.run_until_signalled(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_serve(sys.argv[1])))
