"""A real ``plancube demo`` server process on a fresh DuckDB file and a free port."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from unittest import mock

from server.launch import launched

# Every browser of the session signs in from 127.0.0.1: more than the 10 sign-ins a minute one
# address gets by default (server.auth.passwords).
TEST_ENV = {"PLANCUBE_SIGNIN_RATE_PER_MIN": "1000"}


@contextmanager
def demo_server() -> Iterator[str]:
    """Load the demo plan (and its users), serve it, yield its URL; stop it afterwards."""
    with tempfile.TemporaryDirectory(prefix="plancube-web-") as tmp:
        command = ["demo", "--db", f"{tmp}/demo.duckdb"]
        with ExitStack() as stack:
            # the child takes our environment as it starts; this process keeps its own after
            with mock.patch.dict(os.environ, TEST_ENV):
                server = stack.enter_context(launched(command, Path(tmp) / "server.log"))
            yield server.url
