"""Builds the optional C extension rpcx._speedups; all other metadata lives in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and rpcx runs its pure-Python
twins of the same functions (see rpcx/_accel.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rpcx._speedups", ["rpcx/_speedups.c"], optional=True)])
