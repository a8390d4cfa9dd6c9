"""Browser tests: a real ``plancube demo`` server process, driven through Debian's Chromium.

Playwright (the Python package, a dev dependency) drives ``/usr/bin/chromium``; its own browser
download is never used. Without Chromium these tests skip with the reason, and fail instead under
``PLANCUBE_REQUIRE_ALL=1`` (CI installs Chromium from Debian, see ``.ci/run``). One demo server
serves the whole session; each test plans in a department of its own, so tests do not see each
other's edits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import unavailable
from tests.web.demo_server import demo_server
from tests.web.grid_page import GridPage

# A save or a feed update takes milliseconds, but a 2-core CI machine under load can hold a
# browser step for seconds: wait up to 15 s (Playwright's default is 5) before calling it failed.
expect.set_options(timeout=15_000)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def demo_url() -> Iterator[str]:
    """A real server on a fresh demo plan, on a free port."""
    with demo_server() as url:
        yield url


@pytest.fixture
def open_grid(browser: Any, demo_url: str) -> Iterator[Any]:
    """Open the grid as a planner (own browser context), closed after the test."""
    pages: list[GridPage] = []

    def open_as(user: str, **view: str) -> GridPage:
        grid = GridPage.open(browser, demo_url, user, **view)
        pages.append(grid)
        return grid

    yield open_as
    for grid in pages:
        grid.close()
