"""ConsistentHash matches Go: the same key (FNV-1a-64 of Go's ``genKey`` string) and the same
doublejump picks, checked against vectors that ``hashvec`` computes with Go rpcx's and doublejump's
own code (which first checks its restated key against rpcx's exported ``JumpConsistentHash``)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from rpcx.client.consistent_hash import DoubleJump, go_sprint, hash_key


@dataclasses.dataclass
class Args:
    A: int
    B: int


#: the Python values that print (and so hash) as hashvec's Go values of the same name
PY_VALUES = {
    "str": "user-42", "empty": "", "unicode": "日本語", "int": 42, "neg": -7, "float": 3.5, "big_float": 1e6,
    "small_float": 1e-5, "float_int": 100.0, "true": True, "nil": None, "slice": ["a", "b"],
    "map": {"b": 2, "a": 1}, "struct_ptr": Args(10, 20), "bytes": b"hi", "mixed": ["x", 1, 2.5, False],
    **{f"key-{i}": f"key-{i}" for i in range(200)},
}


@pytest.fixture(scope="module")
def vectors(go_bin: Path) -> dict:
    out = subprocess.run([str(go_bin / "hashvec")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_vectors_cover_every_python_value(vectors: dict) -> None:
    assert sorted(r["name"] for r in vectors["results"]) == sorted(PY_VALUES)


def test_sprint_and_key_match_go(vectors: dict) -> None:
    for r in vectors["results"]:
        v = PY_VALUES[r["name"]]
        assert go_sprint(v) == r["sprint"], r["name"]
        assert hash_key("Arith", "Mul", v) == int(r["hash"]), r["name"]


def test_doublejump_picks_match_go_through_additions_and_removals(vectors: dict) -> None:
    for r in vectors["results"]:
        h = DoubleJump()
        picks = []
        for step in vectors["steps"]:
            (h.add if step["op"] == "add" else h.remove)(step["server"])
            picks.append(h.get(int(r["hash"])) or "")
        assert picks == r["picks"], r["name"]
