"""The side panel under element security: a total's trace leaves out what the user may not see
without breaking.

The demo's people (``server.demo_users``): Raj does not see R&D.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.grid_page import signed_in_page

pytestmark = pytest.mark.browser


def test_a_total_with_a_hidden_part_traces_what_raj_may_see(browser: Any, demo_url: str) -> None:
    page = signed_in_page(
        browser,
        demo_url,
        "raj",
        "/?model=demo&cube=PnL&rows=Department:descendants(Total Company)"
        "&columns=Month:children(FY2025)&Version=Actual&Account=Net Income&Measure=Amount",
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    expect(page.locator('[data-row="0"]')).to_contain_text("Total Company")
    page.locator('[data-cell="0:0"]').click()  # Total Company, 2025-Q1
    trace = page.locator("#panel .trace")
    expect(trace.locator("li.trace-consolidation", has_text="Operations").first).to_be_visible()
    # R&D is a part of the total he may not see: it is there, unnamed, with its weight.
    hidden = trace.locator("li.trace-hidden")
    expect(hidden).to_have_count(1)
    expect(hidden).to_have_text("(not visible to you)")
    assert "R&D" not in (trace.text_content() or "")
    assert errors == []
    page.context.close()
