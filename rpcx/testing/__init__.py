"""Public test helpers for rpcx and projects built on it (layer: testing).

:mod:`rpcx.testing.transport_conformance` is the suite every rpcx network module passes: it runs the
real :class:`rpcx.Server` and :class:`rpcx.Client` over a transport and checks large frames, many
concurrent calls, half-close, peers that vanish mid-frame, slow readers (both directions of
flow control) and server pushes. A new network module (``rpcx/transport/<name>.py``) runs it with
a :class:`TransportCase` of its own. :mod:`rpcx.testing.harness` holds the pieces the checks are
built from (cases, a raw peer over any network, a server whose error logs fail the check).

Nothing here is imported by rpcx itself; importing it pulls in the server and client.
"""

from .transport_conformance import CHECKS, NotCapable, TransportCase

__all__ = ["CHECKS", "NotCapable", "TransportCase"]
