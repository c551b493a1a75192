"""The proxy's YAML configuration: every mistake names where it is and what is wrong; the example
config is valid; the filter language refuses what it must."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rpcx.proxy import ConfigError, ExpressionError, compile_filter, load_config, parse_config
from rpcx.proxy.calls import FIELDS

ROOT = Path(__file__).resolve().parents[2]
BASE = {"listen": "tcp@127.0.0.1:0", "clusters": {"a": {"servers": ["tcp@127.0.0.1:1"]}}}


def doc(**changes: object) -> dict:
    return {**BASE, **changes}


@pytest.mark.parametrize("document, where, what", [
    ({"clusters": {}}, "listen", "missing"),
    (doc(lisen=1), "lisen", "unknown key"),
    (doc(routes=[{"cluster": "b"}]), "routes[0].cluster", "unknown cluster 'b' (defined: a)"),
    (doc(routes=[{"cluster": "a", "clusters": []}]), "routes[0]", "either cluster"),
    (doc(routes=[{"cluster": "a", "match": {"method": {"regex": "("}}}]), "routes[0].match.method.regex",
     "bad regular expression"),
    (doc(routes=[{"cluster": "a", "match": {"method": {"exact": "A", "prefix": "B"}}}]), "routes[0].match.method",
     "exactly one"),
    (doc(routes=[{"cluster": "a", "timeout": "soon"}]), "routes[0].timeout", "expected a duration"),
    (doc(routes=[{"cluster": "a", "faults": {"abort": {"percent": 120}}}]), "routes[0].faults.abort.percent",
     "out of range"),
    (doc(routes=[{"cluster": "a", "faults": {"delay": {"percent": 5}}}]), "routes[0].faults.delay",
     "needs a duration"),
    (doc(routes=[{"clusters": [{"name": "a", "weight": 0}]}]), "routes[0].clusters", "add up to 0"),
    (doc(routes=[{"cluster": "a", "match": {"client": {"cidr": "10.0.0.0/33"}}}]),
     "routes[0].match.client.cidr[0]", "10.0.0.0/33"),
    (doc(routes=[{"name": "x", "cluster": "a"}, {"name": "x", "cluster": "a"}]), "routes[1].name", "used twice"),
    (doc(default={"cluster": "a", "match": {"service": "A"}}), "default.match", "matches every call"),
    (doc(), "routes", "nothing would be forwarded"),
    (doc(clusters={"a": {"servers": ["127.0.0.1:1"]}}, default={"cluster": "a"}), "clusters.a.servers[0]",
     "network@address"),
    (doc(clusters={"a": {}}, default={"cluster": "a"}), "clusters.a", "either servers"),
    (doc(default={"cluster": "a"}, access_log={"filter": "rpc_tme > 1"}), "access_log.filter",
     "unknown field 'rpc_tme'"),
    (doc(default={"cluster": "a"}, access_log={"filter": "status = 1"}), "access_log.filter", "column"),
    (doc(default={"cluster": "a"}, metrics={"port": 9}), "metrics.port", "unknown key"),
    (doc(default={"cluster": "a"}, metrics={"listen": "127.0.0.1:9"}), "metrics.listen", "expected tcp@HOST:PORT"),
    (doc(default={"cluster": "a"}, metrics={"buckets": []}), "metrics.buckets", "non-empty list"),
    (doc(default={"cluster": "a"}, metrics={"buckets": ["10ms", "1ms"]}), "metrics.buckets[1]", "increasing"),
    (doc(default={"cluster": "a"}, metrics={"buckets": ["soon"]}), "metrics.buckets[0]", "expected a duration"),
    (doc(default={"cluster": "a"}, metrics="yes"), "metrics", "expected a mapping"),
    (doc(default={"cluster": "a"}, tls={"cert": "c", "key": "k", "plaintext": 1}), "tls.plaintext",
     "expected true or false"),
    (doc(clusters={"a": {"servers": ["tcp@127.0.0.1:1"], "outlier": {"window": 0}}}, default={"cluster": "a"}),
     "clusters.a.outlier.window", "must be more than 0"),
])
def test_mistakes_say_where_and_what(document: dict, where: str, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(document)
    assert info.value.where == where
    assert what in info.value.what


def test_the_example_config_is_valid() -> None:
    cfg = load_config(str(ROOT / "examples" / "proxy" / "proxy.yaml"))
    assert [r.name for r in cfg.routes.routes] == ["chaos", "mul"]
    assert cfg.routes.routes[1].timeout == 2.0 and cfg.access_log is not None
    outlier = cfg.clusters["arith"].outlier
    assert outlier is not None and outlier.error_rate == 0.5 and outlier.max_ejection_percent == 50
    # the commented metrics and TLS lines are valid too
    text = (ROOT / "examples" / "proxy" / "proxy.yaml").read_text()
    assert "# metrics: true\n" in text and "# tls: {cert: cert.pem, key: key.pem, plaintext: true}\n" in text
    import yaml

    doc = yaml.safe_load(text.replace("# metrics: true", "metrics: true")
                         .replace("# tls: {cert", "tls: {cert"))
    full = parse_config(doc)
    assert full.metrics is not None and full.tls_plaintext


def test_a_mistake_in_a_new_key_names_the_file_and_place(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("listen: tcp@127.0.0.1:0\nclusters: {a: {servers: [tcp@127.0.0.1:1], outlier: {errors: [boom]}}}\n"
                 "default: {cluster: a}\nmetrics: true\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(p))
    assert str(info.value).startswith(f"{p}: clusters.a.outlier.errors[0]: unknown error kind 'boom' (expected one of: ")


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("listen: tcp@127.0.0.1:0\nclusters: {a: [\n")
    with pytest.raises(ConfigError, match=r"p\.yaml:3:1: not valid YAML"):
        load_config(str(p))


def test_cli_refuses_a_bad_config_with_one_line(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("listen: tcp@127.0.0.1:0\nclusters: {a: {servers: [tcp@127.0.0.1:1]}}\n"
                 "routes: [{cluster: a, timeout: -1}]\n")
    out = subprocess.run([sys.executable, "-m", "rpcx", "proxy", "-c", str(p)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"rpcx proxy: invalid configuration: {p}: routes[0].timeout: "
                                  "a duration cannot be negative, got -1")


@pytest.mark.parametrize("source, values, metadata, expected", [
    ('rpc_time >= 0.01', {"rpc_time": 0.01}, {}, True),
    ('status == "error" and not oneway', {"status": "error", "oneway": False}, {}, True),
    ('metadata["tenant"] == "a"', {}, {"tenant": "a"}, True),
    ('metadata["tenant"] == "a"', {}, {}, False),
    ('"debug" in metadata', {}, {"debug": "1"}, True),
    ('service in ("Arith", "Calc") and method != "Mul"', {"service": "Calc", "method": "Add"}, {}, True),
    ('rpc_time > 1', {"rpc_time": None}, {}, False),  # not orderable: false, not an error
    ('0 < rpc_time < 1', {"rpc_time": 0.5}, {}, True),
    ('rpc_time > -1', {"rpc_time": 0}, {}, True),
])
def test_filter_language(source: str, values: dict, metadata: dict, expected: bool) -> None:
    assert compile_filter(source, FIELDS)(values, metadata) is expected


@pytest.mark.parametrize("source, message", [
    ("__import__('os').system('true')", "calls are not allowed"),
    ("status.upper", "attributes are not allowed"),
    ("rpc_time * 2 > 1", "BinOp is not allowed"),
    ("open", "unknown field 'open'"),
    ("status == true", "write True, False or None"),
    ("metadata[status]", "string literal"),
    ("[x for x in metadata]", "ListComp is not allowed"),
    ("status ==", "column"),
])
def test_filter_language_refuses(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        compile_filter(source, FIELDS)
