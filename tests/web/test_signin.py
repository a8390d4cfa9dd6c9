"""Signing in to the web grid, and what each of the demo's people may see and change there.

The demo's element security on Department (``server.demo_users``): Ann plans Sales & Marketing
and reads the rest, Raj plans Operations and does not see R&D at all, Vera reads everything and
changes nothing. The page signs in through its own form; every test has a browser of its own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from server.demo_users import DEMO_PASSWORD
from tests.web.accounts import api, planner
from tests.web.grid_page import new_page, sign_in, signed_in_page

pytestmark = pytest.mark.browser

R_AND_D = ["R&D", "Platform Engineering", "Application Engineering", "Data Science"]


def test_a_wrong_password_is_refused_with_the_servers_reason(browser: Any, demo_url: str) -> None:
    page = new_page(browser)
    page.goto(demo_url)
    form = page.locator("#signin")
    expect(form).to_be_visible()
    expect(page.locator("[data-cell]")).to_have_count(0)  # nothing is shown before signing in
    form.locator("input[name=username]").fill("vera")
    form.locator("input[name=password]").fill("not the password")
    form.get_by_role("button", name="Sign in").click()
    expect(form.locator(".error")).to_have_text("The user name or password is not right.")
    expect(form).to_be_visible()
    sign_in(page, "vera", DEMO_PASSWORD)  # and the right one still signs in
    expect(page.locator("[data-cell]").first).to_be_visible()
    page.context.close()


def test_signing_out_returns_to_the_form_and_ends_the_session(browser: Any, demo_url: str) -> None:
    page = signed_in_page(browser, demo_url, "vera")
    expect(page.locator("#live")).to_have_text("● live")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin")).to_be_visible()
    page.reload()
    expect(page.locator("#signin")).to_be_visible()  # the cookie no longer signs in
    assert page.evaluate("fetch('/api/auth/me').then((r) => r.status)") == 401
    page.context.close()


def test_ann_plans_sales_and_only_reads_finance(open_grid: Any) -> None:
    sales = open_grid("ann", department="Sales EMEA")
    expect(sales.page.locator("#who")).to_have_text("ann")
    expect(sales.page.locator("#admin-link")).to_be_hidden()  # a planner administers nothing
    sales.type_into("Training", "2027-04", "2,468")
    expect(sales.message).to_have_text(re.compile(r"^Saved 1 cell in commit \d+\.$"))
    assert sales.values()["Training", "2027-04"] == 2468
    assert sales.last_commit()["author"] == "ann"

    finance = open_grid("ann", department="Finance")
    cell = finance.cell("Training", "2027-04")
    expect(cell).to_have_class(re.compile(r"\bcell-locked\b"))
    expect(finance.page.locator("[data-cell].cell-input")).to_have_count(0)
    head = finance.head()
    finance.select("Training", "2027-04")
    finance.page.keyboard.type("5")
    expect(finance.editor).to_have_count(0)
    expect(finance.message).to_have_text(
        "Training, 2027-04 (Budget · Finance · Amount) is read-only for you: element security "
        "lets you read this cell but not change it (an admin of the model can grant WRITE)."
    )
    assert finance.head() == head


def test_raj_does_not_see_r_and_d(open_grid: Any, browser: Any, demo_url: str) -> None:
    grid = open_grid("raj", department="Manufacturing")
    departments = grid.page.locator("select[name=filter-Department] option")
    expect(departments.first).to_have_text("Total Company")
    names = [n.strip() for n in departments.all_text_contents()]
    assert "Operations" in names and "Manufacturing" in names and "Finance" in names
    assert not set(R_AND_D) & set(names), names
    expect(grid.page.locator("[data-cell].cell-input").first).to_be_visible()  # he plans Operations
    # Departments on rows: every department but R&D's, which the server never sends him.
    page = signed_in_page(
        browser,
        demo_url,
        "raj",
        "/?model=demo&cube=PnL&rows=Department:descendants(Total Company)"
        "&columns=Month:descendants(FY2027)&Account=Rent&Version=Budget&Measure=Amount",
    )
    labels = page.locator("[data-row]")
    expect(labels.first).to_contain_text("Total Company")
    expect(page.locator("[data-row]", has_text="Manufacturing")).to_have_count(1)
    shown = " | ".join(labels.all_text_contents())
    assert not any(name in shown for name in R_AND_D), shown
    everyone = api(demo_url).get("/api/models/demo/dimensions/Department").json()["elements"]
    assert "R&D" in [e["name"] for e in everyone]  # it is there, for those who may see it
    page.context.close()


def test_vera_reads_everything_and_types_nowhere(open_grid: Any) -> None:
    grid = open_grid("vera", department="Sales EMEA")
    expect(grid.page.locator("[data-cell].cell-locked").first).to_be_visible()
    expect(grid.page.locator("[data-cell].cell-input")).to_have_count(0)
    head = grid.head()
    grid.select("Product Revenue", "2027-01")
    grid.page.keyboard.type("7")
    expect(grid.editor).to_have_count(0)
    expect(grid.message).to_have_text(
        "Product Revenue, 2027-01 is read-only for you: you have the viewer role in model demo."
    )
    grid.paste("Product Revenue", "2027-01", [["1", "2"]])
    expect(grid.message).to_contain_text("nothing of this paste was saved")
    assert grid.head() == head


def test_an_ended_session_asks_to_sign_in_again_and_keeps_the_edit(open_grid: Any) -> None:
    grid = open_grid("sam", department="Customer Support")
    # the cell chosen while signed in, and the side panel done asking about it: a request
    # answered 401 before Sam types would bring the form up under his fingers
    grid.select("Recruiting", "2027-06")
    grid.page.wait_for_load_state("networkidle")
    # An admin sets Sam's password: his sessions end (the browser does not know yet).
    password = planner(grid.base, "sam")
    r = api(grid.base).patch("/api/admin/users/sam", json={"password": password})
    assert r.status_code == 204, r.text
    grid.page.keyboard.type("3,300")  # into the chosen cell, as a person types on
    expect(grid.editor).to_have_value("3,300")
    grid.page.keyboard.press("Enter")
    form = grid.page.locator("#signin")
    expect(form).to_be_visible()
    expect(form).to_contain_text("Your session has ended: sign in again as sam.")
    expect(grid.message).to_have_text(
        "Not saved yet: sign in again; your 1 edit is kept and sent then."
    )
    expect(grid.cell("Recruiting", "2027-06")).to_have_text("3,300")  # kept, under the form
    sign_in(grid.page, "sam", password)
    expect(grid.message).to_have_text(re.compile(r"^Saved 1 cell in commit \d+\.$"))
    assert grid.values()["Recruiting", "2027-06"] == 3300
    assert grid.last_commit()["author"] == "sam"
    expect(grid.page.locator("#live")).to_have_text("● live")
