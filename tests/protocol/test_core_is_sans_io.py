"""The protocol core imports only the standard library and no I/O, clock-driven or logging module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import rpcx.protocol

FORBIDDEN = ("asyncio", "socket", "ssl", "selectors", "logging", "threading", "msgpack", "google")
PROTOCOL_DIR = Path(rpcx.protocol.__file__).parent


def _is_forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def _modules_loaded_by(setup: str) -> list[str]:
    """Run ``setup`` then ``import rpcx.protocol`` in a fresh interpreter; the modules that import added."""
    code = (
        "import sys, json, types\n"
        f"{setup}\n"
        "before = set(sys.modules)\n"
        "import rpcx.protocol\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
        cwd=str(PROTOCOL_DIR.parent.parent),
    )
    loaded: list[str] = json.loads(out.stdout)
    assert "rpcx.protocol.message" in loaded  # the probe works
    return loaded


def _check(loaded: list[str]) -> None:
    bad = [m for m in loaded if _is_forbidden(m)]
    assert bad == [], f"importing rpcx.protocol pulled in {bad}"
    # the core must not drag in the rest of the package either (client, server, codecs, transports)
    heavy = [m for m in loaded if m.startswith(("rpcx.client", "rpcx.server", "rpcx.codec", "rpcx.transport"))]
    assert heavy == [], f"importing rpcx.protocol pulled in {heavy}"


def test_protocol_core_closure_is_stdlib_only() -> None:
    # rpcx/__init__ replaced by an empty package: what rpcx.protocol itself (and rpcx.errors) needs
    setup = (
        f"pkg = types.ModuleType('rpcx'); pkg.__path__ = [{str(PROTOCOL_DIR.parent)!r}]; "
        "sys.modules['rpcx'] = pkg"
    )
    loaded = _modules_loaded_by(setup)
    _check(loaded)
    assert all(m.split(".")[0] in sys.stdlib_module_names or m.startswith("rpcx") for m in loaded), loaded


def test_import_rpcx_protocol_in_fresh_interpreter() -> None:
    _check(_modules_loaded_by(""))


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.append((node.module, node.lineno))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "__import__",
            "import_module",
        ):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append((node.args[0].value, node.lineno))
    return found


def _protocol_modules() -> list[Path]:
    files = sorted(PROTOCOL_DIR.rglob("*.py"))
    assert any(f.name == "message.py" for f in files)
    return files


@pytest.mark.parametrize("path", _protocol_modules(), ids=lambda p: p.name)
def test_no_protocol_module_imports_io(path: Path) -> None:
    stdlib = sys.stdlib_module_names
    for name, line in _imports(path):
        top = name.split(".")[0]
        assert not _is_forbidden(name), f"{path.name}:{line} imports {name}"
        assert top in stdlib or top == "__future__", f"{path.name}:{line} imports non-stdlib {name}"
        assert top not in ("time", "random", "os"), f"{path.name}:{line} imports {name}: pass time in"


def test_import_scanner_sees_imports(tmp_path: Path) -> None:
    # guard against a scanner that finds nothing and so passes everything
    probe = tmp_path / "probe.py"
    probe.write_text("import asyncio\nfrom socket import socket\nimportlib.import_module('logging')\nfrom . import x\n")
    assert [n for n, _ in _imports(probe)] == ["asyncio", "socket", "logging"]
