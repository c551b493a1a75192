"""examples/reuseport/spread.py: worker processes on one reuseport port all serve calls, and each
worker's own count matches what the client saw (the kernel spreads connections, not calls)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reuseport" / "spread.py"


def test_calls_spread_over_every_worker() -> None:
    # 2 workers, 32 connections: all on one worker would take a 1 in 2**31 hash coincidence
    out = subprocess.run([sys.executable, str(EXAMPLE), "--workers", "2", "--connections", "32", "--calls", "5"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = re.findall(r"worker (\d+): (\d+) calls on (\d+) connections \(client saw (\d+)\)", out.stdout)
    assert len(rows) == 2 and len({pid for pid, *_ in rows}) == 2, out.stdout
    for _, served, conns, seen in rows:
        assert int(served) == int(seen) == 5 * int(conns) > 0, out.stdout
    assert sum(int(conns) for _, _, conns, _ in rows) == 32
    assert re.search(r"clients dial tcp@127\.0\.0\.1:\d+", out.stdout), out.stdout


def test_a_worker_that_serves_nothing_is_reported() -> None:
    # one connection, two workers: one of them cannot have served anything, and the example says so
    out = subprocess.run([sys.executable, str(EXAMPLE), "--workers", "2", "--connections", "1", "--calls", "3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "a worker served nothing" in out.stderr, out.stdout + out.stderr
    assert re.search(r": 0 calls on 0 connections \(client saw 0\)", out.stdout), out.stdout
