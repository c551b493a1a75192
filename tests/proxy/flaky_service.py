"""Services for the outlier ejection tests, served by ``rpcx serve`` in their own processes:
``Healthy`` answers, ``Failing`` raises (both registered as ``--name Svc``)."""

from __future__ import annotations

from typing import Any


class Healthy:
    def Who(self, args: Any) -> str:
        return "healthy"


class Failing:
    def Who(self, args: Any) -> str:
        raise RuntimeError("failing on purpose")
