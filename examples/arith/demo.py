"""Run the Arith example pair: start the server on a free loopback port, call it with every codec, stop it.

    python examples/arith/demo.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    address = f"tcp@127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), address], stdout=subprocess.PIPE, text=True
    )
    try:
        line = server.stdout.readline().strip() if server.stdout else ""
        print(f"server: {line}")
        if not line.startswith("serving "):
            print("the server did not start", file=sys.stderr)
            return 1
        failed = 0
        for codec in ("msgpack", "json", "protobuf", "raw"):
            out = subprocess.run(
                [sys.executable, str(HERE / "client.py"), address, "--codec", codec],
                capture_output=True, text=True, timeout=30,
            )
            print(f"client --codec {codec:8}: {(out.stdout or out.stderr).strip()}")
            failed += out.returncode != 0
        return 1 if failed else 0
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        print(f"server stopped (exit {server.returncode})")


if __name__ == "__main__":
    sys.exit(main())
