"""One-line errors for command-line programs: the ``rpcx`` CLI and the examples (layer: tools).

A person who mistypes an address or points at a missing certificate should read one line naming
the problem, not a traceback. Programs catch the errors they expect around start-up and the call,
print ``<program>: <what failed>: <why>`` on stderr and exit with the statuses the Go interop peers
use (tests/interop/goserver, goclient):

* 0: done;
* 1 (:data:`EXIT_FAILED`): the command line was fine but the program failed: it cannot listen,
  cannot read or use a certificate, cannot reach the server, or the call returned an error;
* 2 (:data:`EXIT_USAGE`): the command line is wrong (unknown option, missing argument, bad choice).

Unexpected exceptions (bugs) still end with a traceback: those are for the developer.

>>> reason(OSError(98, "error while attempting to bind on address ('127.0.0.1', 1): address already in use"))
'address already in use'
>>> reason(ValueError("bad tcp address 'x': expected host:port"))
"bad tcp address 'x': expected host:port"
"""

from __future__ import annotations

import argparse
import os
import re
import ssl
import sys
from typing import NoReturn

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "Parser", "reason", "fail", "human_duration"]

EXIT_FAILED = 1
EXIT_USAGE = 2

# OpenSSL messages carry the library tag and the C source line: "[SSL] PEM lib (_ssl.c:3905)"
_SSL_NOISE = re.compile(r"^\[\w+\]\s*|\s*\(_ssl\.c:\d+\)$")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (argparse prints the usage block too).

    >>> Parser(prog="x.py").parse_args(["--nope"])
    Traceback (most recent call last):
    SystemExit: 2
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def reason(exc: BaseException) -> str:
    """The part of an exception a person needs, in lower case: ``address already in use``."""
    cause = exc.__cause__
    text = str(exc)
    if isinstance(cause, OSError) and str(cause) and text.endswith(str(cause)):
        # the package's own errors end with their cause's text ("dial tcp@h:p: [Errno 111]
        # Connect call failed (...)"): say the cause the short way ("...: connection refused")
        return text[: -len(str(cause))] + reason(cause)
    if isinstance(exc, ssl.SSLError):
        why = exc.reason or _SSL_NOISE.sub("", str(exc.strerror or exc))
        return f"not a usable certificate or key (ssl: {why})"
    if isinstance(exc, OSError) and (exc.errno is not None or exc.strerror):
        # asyncio and uvloop put a whole sentence in strerror ("error while attempting to bind on
        # address ...: address already in use"); the errno alone says it best. getaddrinfo errors
        # (negative errno) have only their strerror.
        if exc.errno is not None and exc.errno > 0:
            text = os.strerror(exc.errno)
        else:
            text = exc.strerror or text
        return text[:1].lower() + text[1:]
    return text or type(exc).__name__


def fail(prog: str, what: str, exc: BaseException) -> int:
    """Print ``prog: what: reason`` on stderr as one line and return :data:`EXIT_FAILED`."""
    line = f"{prog}: {what}: {reason(exc)}".replace("\n", " ")
    print(line, file=sys.stderr, flush=True)
    return EXIT_FAILED


def human_duration(seconds: float) -> str:
    """A duration as people read it: three significant digits and a unit.

    >>> human_duration(0.49999423100007334), human_duration(1.5), human_duration(0.0000123)
    ('500 ms', '1.5 s', '12.3 µs')
    """
    s = abs(seconds)
    for limit, scale, unit in ((1e-6, 1e9, "ns"), (1e-3, 1e6, "µs"), (1.0, 1e3, "ms")):
        if s < limit:
            return f"{seconds * scale:.3g} {unit}"
    if s < 120:
        return f"{seconds:.3g} s"
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    sign = "-" if seconds < 0 else ""
    return f"{sign}{h}h{m:02d}m{sec:02d}s" if h else f"{sign}{m}m{sec:02d}s"
