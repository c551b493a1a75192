"""docs/options.md tells the truth: every default in its "ours" columns is the code's real default,
and every client and server option is on the page.

The page's rows name our options as ``Option.x``, ``Heartbeat.x``, ``Limits.x``, ``XClient(x=)``,
``Client(x=)`` or ``Server(x=)``; their default cell is a Python expression, evaluated here and
compared with the value read from the code (a dataclass instance's field, or a signature default).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from rpcx.client import Backoff, Client, FailMode, Heartbeat, Option, SelectMode, XClient
from rpcx.protocol.constants import CompressType, SerializeType
from rpcx.protocol.decoder import Limits
from rpcx.server import Server

DOC = Path(__file__).resolve().parents[1] / "docs" / "options.md"
NAMESPACE = {
    "SerializeType": SerializeType, "CompressType": CompressType, "FailMode": FailMode, "SelectMode": SelectMode,
    "Limits": Limits, "Backoff": Backoff, "Heartbeat": Heartbeat,
}
INSTANCES: dict[str, Any] = {"Option": Option(), "Heartbeat": Heartbeat(), "Limits": Limits(), "Backoff": Backoff()}
CONSTRUCTORS: dict[str, Any] = {"XClient": XClient, "Client": Client, "Server": Server}
#: constructor parameters that say what to talk to, not how: not options
NOT_OPTIONS = {"self", "service_path", "discovery", "address", "option"}

_FIELD = re.compile(r"^(Option|Heartbeat|Limits|Backoff)\.(\w+)$")
_KWARG = re.compile(r"^(XClient|Client|Server)\((\w+)=\)$")


def rows() -> list[tuple[str, list[str], str]]:
    """``(concern, our names, our default cell)`` for every table row of the page."""
    out = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) != 6 or cells[0] == "concern" or set(cells[0]) <= {"-"}:
            continue
        out.append((cells[0], re.findall(r"`([^`]+)`", cells[1]), cells[2]))
    return out


def real_default(name: str) -> Any:
    m = _FIELD.match(name)
    if m:
        return getattr(INSTANCES[m[1]], m[2])
    m = _KWARG.match(name)
    if m:
        param = inspect.signature(CONSTRUCTORS[m[1]].__init__).parameters[m[2]]
        assert param.default is not inspect.Parameter.empty, f"{name} has no default"
        return param.default
    raise KeyError(name)


def checked_rows() -> list[tuple[str, str, str]]:
    return [(concern, name, default) for concern, names, default in rows() for name in names
            if _FIELD.match(name) or _KWARG.match(name)]


def test_the_page_has_its_tables() -> None:
    assert len(rows()) >= 40 and len(checked_rows()) >= 35


@pytest.mark.parametrize(("concern", "name", "default"), checked_rows(), ids=lambda v: str(v)[:40])
def test_each_documented_default_is_the_real_one(concern: str, name: str, default: str) -> None:
    m = re.fullmatch(r"`([^`]+)`", default)
    assert m, f"{concern}: the default of {name} must be one Python expression in backquotes, got {default!r}"
    documented = eval(m[1], dict(NAMESPACE))  # noqa: S307 - our own doc, read by our own test
    assert real_default(name) == documented, f"{concern}: {name} is {real_default(name)!r}, the page says {m[1]}"


def test_every_option_is_on_the_page() -> None:
    named = {name for _, names, _ in rows() for name in names}
    expected = {f"{cls}.{f.name}" for cls in ("Option", "Heartbeat", "Limits")
                for f in dataclasses.fields(INSTANCES[cls])}
    for cls, ctor in CONSTRUCTORS.items():
        expected |= {f"{cls}({p}=)" for p in inspect.signature(ctor.__init__).parameters if p not in NOT_OPTIONS}
    assert expected - named == set(), "options missing from docs/options.md"
