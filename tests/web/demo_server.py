"""A real ``plancube demo`` server process on a fresh DuckDB file and a free port."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port


@contextmanager
def demo_server() -> Iterator[str]:
    """Load the demo plan, serve it, yield its URL; stop it afterwards."""
    with tempfile.TemporaryDirectory(prefix="plancube-web-") as tmp:
        port = free_port()
        log = Path(tmp) / "server.log"
        command = [sys.executable, "-m", "server.cli", "demo", "--db", f"{tmp}/demo.duckdb"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*command, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(url, proc, log)
            yield url
        finally:
            proc.terminate()
            proc.wait(10)


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the demo server did not start:\n{log.read_text()}")
        time.sleep(0.1)
