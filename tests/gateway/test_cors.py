"""CorsOptions: rs/cors v1.11.1's rules (the all-origins case is compared with Go in
tests/interop/test_gateway_against_go.py)."""

from __future__ import annotations

from rpcx.gateway import CorsOptions

PRE = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"}


def test_listed_and_wildcard_origins_are_echoed() -> None:
    cors = CorsOptions(allowed_origins=("https://APP.example.com", "https://*.test"), allowed_methods=("PUT",))
    assert cors.preflight(PRE)["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert cors.actual("PUT", {"Origin": "https://x.test"})["Access-Control-Allow-Origin"] == "https://x.test"
    assert "Access-Control-Allow-Origin" not in cors.actual("PUT", {"Origin": "https://evil.example"})


def test_default_methods_are_the_simple_ones() -> None:
    cors = CorsOptions()
    assert "Access-Control-Allow-Methods" not in cors.preflight(PRE)  # PUT is not GET, POST or HEAD
    assert cors.preflight({**PRE, "Access-Control-Request-Method": "POST"})["Access-Control-Allow-Methods"] == "POST"
    assert "Access-Control-Allow-Origin" not in cors.actual("DELETE", {"Origin": "https://a"})


def test_requested_headers_must_be_allowed_sorted_and_lower_case() -> None:
    cors = CorsOptions(allowed_methods=("PUT",), allowed_headers=("X-Rpcx-Meta", "Content-Type"))
    ok = cors.preflight({**PRE, "Access-Control-Request-Headers": "content-type, x-rpcx-meta"})
    assert ok["Access-Control-Allow-Headers"] == "content-type, x-rpcx-meta"
    for bad in ("x-rpcx-meta,content-type", "content-type,x-other", "Content-Type", "content-type,content-type",
                "content-type,  x-rpcx-meta"):
        assert "Access-Control-Allow-Origin" not in cors.preflight({**PRE, "Access-Control-Request-Headers": bad}), bad


def test_credentials_exposed_headers_and_max_age() -> None:
    cors = CorsOptions(allowed_methods=("PUT",), allow_credentials=True, exposed_headers=("x-rpcx-meta",), max_age=-1)
    pre = cors.preflight(PRE)
    assert (pre["Access-Control-Allow-Credentials"], pre["Access-Control-Max-Age"]) == ("true", "0")
    act = cors.actual("PUT", {"Origin": "https://a"})
    assert act == {"Vary": "Origin", "Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "X-Rpcx-Meta",
                   "Access-Control-Allow-Credentials": "true"}
