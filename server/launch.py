"""Run a ``plancube`` server in a child process and wait until it answers.

End-to-end tests and benchmarks drive real server processes on free ports; this is the one
place that starts one, waits for ``/api/health`` and stops it again.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def launched(
    command: Sequence[str], log: Path, timeout: float = 60.0, cwd: Path | None = None
) -> Iterator[ServerProcess]:
    """``python -m server.cli COMMAND --port P``, its output in ``log``; stopped on exit."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", *command, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.05)
        yield ServerProcess(url, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
