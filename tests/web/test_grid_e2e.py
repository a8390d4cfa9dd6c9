"""The web grid end to end: a real server, real Chromium, a planner's keyboard and clipboard.

Each test plans in a department of its own (the demo server is shared by the session).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.grid_page import shown, signed_in_page

pytestmark = pytest.mark.browser

LEAVES_2027 = "leaves(FY2027)"
REVENUE = ["Product Revenue", "Service Revenue", "Subscription Revenue", "Discounts", "Returns"]
REVENUE_WEIGHTS = [1, 1, 1, -1, -1]


def state(*names: str) -> re.Pattern[str]:
    """Cell classes: exactly these states (RevoGrid adds "disabled" to read-only cells)."""
    return re.compile(r"^rgCell (disabled )?" + " ".join(f"cell-{n}" for n in names) + r"( neg)?$")


def test_the_demo_opens_on_a_view_a_planner_can_type_into(browser: Any, demo_url: str) -> None:
    page = signed_in_page(browser, demo_url, "ann")
    expect(page.locator("select[name=rows-dimension]")).to_have_value("Account")
    expect(page.locator("select[name=columns-dimension]")).to_have_value("Month")
    expect(page.locator("select[name=filter-Version]")).to_have_value("Actual")
    expect(page.locator("select[name=filter-Department]")).to_have_value("Sales North America")
    expect(page.locator('[data-row="0"]')).to_contain_text("Net Income")
    # Year > Quarter > Month column groups, and input cells to type into.
    for group in ("All Years", "FY2025", "2025-Q1"):
        expect(page.locator(".rgHeaderCell", has_text=group).first).to_be_visible()
    expect(page.locator(".cell-input").first).to_be_visible()
    expect(page.locator(".cell-computed").first).to_be_visible()
    expect(page.locator("#live")).to_have_text("● live")
    assert "Department=Sales+North+America" in page.url
    page.context.close()


def test_typing_into_a_leaf_updates_its_totals(open_grid: Any) -> None:
    grid = open_grid("pat", department="Sales EMEA")
    before = grid.values()
    grid.type_into("Product Revenue", "2027-01", "1,000,000")
    delta = 1_000_000 - (before["Product Revenue", "2027-01"] or 0)
    expect(grid.cell("Product Revenue", "2027-01")).to_have_text("1,000,000")
    for total, column in [
        ("Revenue", "2027-01"),
        ("Revenue", "2027-Q1"),
        ("Net Income", "2027-01"),
    ]:
        expected = (before[total, column] or 0) + delta
        expect(grid.cell(total, column)).to_have_text(shown(expected))
    expect(grid.cell("Product Revenue", "2027-01")).not_to_have_class("cell-dirty")
    assert grid.values()["Revenue", "2027-Q1"] == (before["Revenue", "2027-Q1"] or 0) + delta
    assert grid.last_commit()["author"] == "pat"
    # The side panel explains the total: its children, the new value among them.
    grid.cell("Revenue", "2027-01").click()
    trace = grid.panel.locator(".trace li.trace-input", has_text="Product Revenue")
    expect(trace).to_contain_text("1,000,000")
    grid.cell("Product Revenue", "2027-01").click()
    expect(grid.panel.locator(".history tr").first).to_contain_text("pat")


def test_typing_into_a_total_says_why_and_changes_nothing(open_grid: Any) -> None:
    grid = open_grid("pat", department="Sales EMEA")
    head = grid.head()
    total = grid.cell("Revenue", "2027-02")
    expect(total).to_have_class(state("computed"))
    grid.select("Revenue", "2027-02")
    grid.page.keyboard.type("5")
    expect(grid.message).to_have_text(
        "Revenue, 2027-02 is a total, computed from the cells under it. Typing into a total "
        "does not spread it yet: type into its leaves, or spread it with the API "
        "(POST …/spread, see docs/api.md)."
    )
    grid.page.keyboard.press("Enter")
    expect(grid.editor).to_have_count(0)
    expect(total).to_have_class(state("computed"))
    assert grid.head() == head
    # A rule cell says what computes it.
    rule = open_grid("pat", department="Sales EMEA", version="Budget")
    rule.page.goto(rule.page.url.replace("Measure=Amount", "Measure=%25+of+Revenue"))
    rule.page.wait_for_selector("[data-cell]")
    rule.cell("Rent", "2027-02").dblclick()
    expect(rule.message).to_have_text(
        "Rent, 2027-02 is computed by a rule; change the cells it reads."
    )


def test_a_pasted_5_by_12_block_is_one_commit(open_grid: Any) -> None:
    grid = open_grid("pat", department="Marketing", columns=LEAVES_2027)
    months = grid.columns
    assert len(months) == 12
    # As Excel copies a formatted range: thousands separators, negatives in parentheses.
    values = [
        [-(r * 10 + m + 1) if (r + m) % 3 == 0 else (r + 1) * 1000 + m for m in range(12)]
        for r in range(5)
    ]
    block = [[f"({-v})" if v < 0 else f"{v:,}" for v in line] for line in values]
    grid.paste(REVENUE[0], months[0], block)
    expect(grid.message).to_have_text(re.compile(r"^Saved 60 cells in commit \d+\.$"))
    commit = grid.last_commit()
    # Wait on state that stays (the commit the grid shows), not on a message that fades.
    expect(grid.page.locator("#commit")).to_have_text(f"commit {commit['id']}")
    assert (commit["cells"], commit["source"], commit["author"]) == (60, "web", "pat")
    now = grid.values()
    for r, account in enumerate(REVENUE):
        for m, month in enumerate(months):
            assert now[account, month] == values[r][m]
    for m, month in enumerate(months[:8]):
        revenue = sum(w * values[r][m] for r, w in enumerate(REVENUE_WEIGHTS))
        expect(grid.cell("Revenue", month)).to_have_text(shown(revenue))
        expect(grid.cell("Returns", month)).to_have_text(shown(values[4][m]))


def test_a_second_planner_sees_the_edit_arrive(open_grid: Any) -> None:
    pat = open_grid("pat", department="Sales APAC")
    bob = open_grid("bob", department="Sales APAC")
    before = pat.values()
    pat.type_into("Training", "2027-03", "4321")
    delta = 4321 - (before["Training", "2027-03"] or 0)
    expect(bob.cell("Training", "2027-03")).to_have_text("4,321")
    for total in ("Personnel", "Operating Expenses"):
        expect(bob.cell(total, "2027-03")).to_have_text(shown(before[total, "2027-03"] + delta))
        expect(bob.cell(total, "2027-Q1")).to_have_text(shown(before[total, "2027-Q1"] + delta))


def test_a_conflicting_edit_is_shown_and_nothing_is_lost(open_grid: Any) -> None:
    pat = open_grid("pat", department="Finance")
    bob = open_grid("bob", department="Finance")
    # Ann starts typing; Bob saves the same cell before she presses Enter.
    pat.type_into("Rent", "2027-02", "1111", enter=False)
    bob.type_into("Rent", "2027-02", "2222")
    expect(bob.message).to_contain_text("Saved 1 cell")
    pat.page.keyboard.press("Enter")
    cell = pat.cell("Rent", "2027-02")
    expect(cell).to_have_class(state("input", "conflict"))
    expect(cell).to_have_text("1,111")  # hers, kept
    expect(cell).to_have_attribute(
        "title", f"Conflict: bob changed this to 2,222 (commit {pat.head()})"
    )
    expect(pat.message).to_contain_text("changed by bob")
    assert pat.values()["Rent", "2027-02"] == 2222
    cell.click()
    expect(pat.panel.locator(".conflict")).to_contain_text("bob changed this cell to 2,222")
    pat.panel.get_by_role("button", name="Overwrite with mine").click()
    expect(cell).to_have_class(state("input"))
    expect(bob.cell("Rent", "2027-02")).to_have_text("1,111")
    assert pat.values()["Rent", "2027-02"] == 1111
    history = pat.panel.locator(".history tr")
    expect(history.first).to_contain_text("pat")  # newest first
    expect(history.nth(1)).to_contain_text("bob")


def test_take_theirs_drops_the_planners_value(open_grid: Any) -> None:
    pat = open_grid("pat", department="Legal")
    bob = open_grid("bob", department="Legal")
    pat.type_into("Utilities", "2027-01", "10", enter=False)
    bob.type_into("Utilities", "2027-01", "20")
    expect(bob.message).to_contain_text("Saved 1 cell")
    pat.page.keyboard.press("Enter")
    cell = pat.cell("Utilities", "2027-01")
    expect(cell).to_have_class(state("input", "conflict"))
    cell.click()
    pat.panel.get_by_role("button", name="Take theirs").click()
    expect(cell).to_have_class(state("input"))
    expect(cell).to_have_text("20")
    assert pat.values()["Utilities", "2027-01"] == 20


def test_a_non_number_is_refused_kept_for_correcting_and_never_sent(open_grid: Any) -> None:
    grid = open_grid("pat", department="Human Resources")
    head = grid.head()
    before = grid.cell("Rent", "2027-01").text_content()
    grid.type_into("Rent", "2027-01", "12abc")
    expect(grid.message).to_have_text(
        '"12abc" is not a number (Rent, 2027-01): correct it, or Esc to cancel.'
    )
    expect(grid.message).to_have_class("error")
    # The typed text stays in the editor, on the same cell, for the planner to correct.
    expect(grid.editor).to_have_value("12abc")
    expect(grid.editor).to_be_focused()
    assert grid.head() == head
    grid.page.keyboard.press("Backspace")
    grid.page.keyboard.press("Backspace")
    grid.page.keyboard.press("Backspace")
    expect(grid.editor).to_have_value("12")
    grid.page.keyboard.press("Enter")
    expect(grid.message).to_have_text(re.compile(r"^Saved 1 cell in commit \d+\.$"))
    expect(grid.cell("Rent", "2027-01")).to_have_text("12")
    assert grid.values()["Rent", "2027-01"] == 12
    head = grid.head()
    grid.paste("Rent", "2027-01", [["5", "six"]])
    expect(grid.message).to_contain_text('"six" is not a number')
    expect(grid.cell("Rent", "2027-01")).to_have_text("12")
    assert grid.head() == head
    assert before != "12"


def test_collapse_and_expand_a_subtotal(open_grid: Any) -> None:
    grid = open_grid("pat", department="Legal")
    expect(grid.row_label("Salaries & Wages")).to_be_visible()
    grid.toggle("Operating Expenses")
    expect(grid.row_label("Salaries & Wages")).to_have_count(0)
    expect(grid.row_label("Operating Expenses")).to_contain_text("▸")
    expect(grid.row_label("Income Tax")).to_be_visible()
    grid.toggle("Operating Expenses")
    expect(grid.row_label("Salaries & Wages")).to_be_visible()
    # The keyboard: Enter on a subtotal's label collapses it.
    grid.row_label("Personnel").click()
    grid.page.keyboard.press("Enter")
    expect(grid.row_label("Salaries & Wages")).to_have_count(0)
    expect(grid.row_label("Facilities")).to_be_visible()
