"""A network whose pip extra is missing fails with an error naming the extra to install, in the
library (``transport_for``) and in the example programs, for every network that needs one."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rpcx import RpcxError
from rpcx.transport import TRANSPORTS, transport_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "arith"

#: extra -> the third-party package it brings, which the test hides
PACKAGES = {"ws": "wsproto", "quic": "aioquic"}
WITH_EXTRA = sorted(n for n, (_, extra) in TRANSPORTS.items() if extra)


def test_every_network_with_an_extra_is_checked_here() -> None:
    assert {"ws", "wss", "quic"} <= set(WITH_EXTRA)


@pytest.mark.parametrize("network", WITH_EXTRA)
def test_missing_extra_names_it(network: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module, extra = TRANSPORTS[network]
    assert extra is not None
    # as if the package were not installed: a None entry in sys.modules makes its import fail
    hidden = PACKAGES.get(extra, module)
    loaded = {m for m, e in TRANSPORTS.values() if e == extra}  # wss imports ws: both must load afresh
    for name in [m for m in sys.modules if m == hidden or m.startswith(hidden + ".")] + sorted(loaded):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, hidden, None)
    with pytest.raises(RpcxError, match=rf"the {network} transport needs: pip install 'rpcx-python\[{extra}\]'"):
        transport_for(network)
    monkeypatch.undo()
    importlib.import_module(module)  # and with the package back, it loads


def _hide(tmp_path: Path, package: str) -> dict[str, str]:
    """An environment whose Python cannot import ``package`` (a shadowing one that refuses to load)."""
    shadow = tmp_path / package
    shadow.mkdir()
    (shadow / "__init__.py").write_text(f"raise ImportError('{package} is hidden by the test')\n")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))


@pytest.mark.parametrize("network, extra, tls", [("ws", "ws", False), ("wss", "ws", True), ("quic", "quic", True)])
def test_example_programs_name_the_missing_extra(tmp_path: Path, tls_files: tuple[str, str], network: str,
                                                 extra: str, tls: bool) -> None:
    env = _hide(tmp_path, PACKAGES[extra])
    cert = ["--cert", tls_files[0], "--key", tls_files[1]] if tls else []
    want = f"pip install 'rpcx-python[{extra}]'"
    out = subprocess.run([sys.executable, str(EXAMPLES / "server.py"), f"{network}@127.0.0.1:0", *cert],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1 and want in out.stderr and "Traceback" not in out.stderr, out.stderr
    out = subprocess.run([sys.executable, str(EXAMPLES / "client.py"), f"{network}@127.0.0.1:9"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1 and want in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from rpcx.testing.transport_conformance import self_signed_cert

    return self_signed_cert(str(tmp_path_factory.mktemp("cert")))
