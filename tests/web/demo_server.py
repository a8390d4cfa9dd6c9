"""A real ``plancube demo`` server process on a fresh DuckDB file and a free port."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.launch import launched


@contextmanager
def demo_server() -> Iterator[str]:
    """Load the demo plan, serve it, yield its URL; stop it afterwards."""
    with tempfile.TemporaryDirectory(prefix="plancube-web-") as tmp:
        command = ["demo", "--db", f"{tmp}/demo.duckdb"]
        with launched(command, Path(tmp) / "server.log") as server:
            yield server.url
