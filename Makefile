# The two commands of the README: `make example` and `make test`. .ci/run calls `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup example test interop bench clean registry-servers

$(VENV)/.installed: pyproject.toml setup.py rpcx/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,test]'
	touch $@

setup: $(VENV)/.installed

example: setup
	$(PY) examples/arith/demo.py

# Builds the Go interop peers (cached outside the repo), type-checks, runs the server and client
# and proxy behaviour tests on uvloop too (what the examples, benchmarks and rpcx proxy run on) with the pure-Python twins
# of the C speedups, then every test with the C speedups, which must have built.
# The registry tests start real Redis, etcd, ZooKeeper and dnsmasq servers: installed from Debian when
# missing (needs root; otherwise it prints the apt-get command).
registry-servers:
	bash .ci/registry-servers

test: setup registry-servers
	bash tests/interop/build.sh
	$(PY) -m mypy rpcx
	RPCX_TEST_LOOP=uvloop RPCX_PURE_PYTHON=1 $(PY) -m pytest -q -p no:cacheprovider tests/server tests/client tests/hostile tests/protocol tests/transport tests/proxy
	RPCX_REQUIRE_SPEEDUPS=1 $(PY) -m pytest

bench: setup
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
