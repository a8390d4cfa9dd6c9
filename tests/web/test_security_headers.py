"""The grid works under its content security policy (``server.headers``): it loads, signs in,
goes live over the feed and saves an edit with no violation reported and no console error."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.accounts import planner
from tests.web.grid_page import new_page, sign_in

pytestmark = pytest.mark.browser

VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def unexpected(message: Any) -> bool:
    """A console error, other than the browser's note on the page's first question, GET
    /api/auth/me, answered 401 before anyone signed in (that is how the page learns it)."""
    if message.type != "error":
        return False
    first = message.location.get("url", "").endswith("/api/auth/me") and "401" in message.text
    return not first


def test_the_grid_runs_under_its_policy(browser: Any, demo_url: str) -> None:
    policy = httpx.get(demo_url).headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    page = new_page(browser)
    page.context.add_init_script(VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if unexpected(m) else None)
    query = {
        "model": "demo",
        "cube": "PnL",
        "rows": "Account:descendants(Net Income)",
        "columns": "Month:descendants(FY2027)",
        "Version": "Budget",
        "Department": "Legal",
        "Measure": "Amount",
    }
    page.goto(f"{demo_url}/?{urlencode(query)}")
    sign_in(page, "csp", planner(demo_url, "csp"))
    page.wait_for_selector("#live.on")  # the feed's WebSocket is connect-src 'self'
    expect(page.locator("revo-grid")).to_be_visible()
    page.wait_for_timeout(500)  # styles and late chunks
    assert page.evaluate("window.__violations") == []
    assert errors == []
    page.context.close()
