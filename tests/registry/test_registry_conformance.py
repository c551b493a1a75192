"""The registry conformance suite (rpcx.testing.registry_conformance) against each backend's real
server, started by tests/registry/conftest.py on loopback."""

from __future__ import annotations

import pytest

from rpcx.testing.registry_conformance import CHECKS, RegistryCase

@pytest.mark.parametrize("check", sorted(CHECKS))
async def test_conformance(check: str, registry_case: RegistryCase) -> None:
    await CHECKS[check](registry_case)
