"""Registry tests against real Redis, etcd and ZooKeeper servers (a package: its conftest must not shadow tests/conftest.py)."""
