"""The admin page (``#admin``): a server admin adds a user with a password, a group with the
user in it, the group's role in the model and its element security, all through the page; the
new user then signs in and plans. And a planner is not offered the page at all."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.accounts import api
from tests.web.grid_page import signed_in_page

pytestmark = pytest.mark.browser

NEW_PASSWORD = "nina-password-long"


def test_an_admin_adds_a_user_and_a_role_and_the_user_signs_in(
    browser: Any, demo_url: str, open_grid: Any
) -> None:
    page = signed_in_page(browser, demo_url, "admin")
    # the header is done changing once the view is open (its Import… button shows): a click
    # before that can land where the link no longer is
    expect(page.locator("#import-button")).to_be_visible()
    page.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(re.compile(r"#admin$"))
    admin = page.locator("#admin")
    expect(admin.locator("table.users")).to_contain_text("vera")

    users = admin.locator("#admin-users")
    users.locator("input[name=new-user]").fill("nina")
    users.locator("input[name=new-password]").fill(NEW_PASSWORD)
    users.get_by_role("button", name="Add user").click()
    expect(users.locator(".message")).to_have_text("Added nina.")
    expect(users.locator("table.users tr", has_text="nina")).to_contain_text("active")

    groups = admin.locator("#admin-groups")
    groups.locator("input[name=new-group]").fill("hr-planners")
    groups.get_by_role("button", name="Add group").click()
    expect(groups.locator(".message")).to_have_text("Added group hr-planners.")
    groups.locator("input[name=member-hr-planners]").fill("nina")
    groups.locator("tr", has_text="hr-planners").get_by_role("button", name="Add").click()
    expect(groups.locator("tr", has_text="hr-planners")).to_contain_text("nina")

    roles = admin.locator("#admin-roles")
    roles.locator("input[name=role-group]").fill("hr-planners")
    roles.locator("select[name=role-role]").select_option("planner")
    roles.get_by_role("button", name="Set role").click()
    expect(roles.locator(".message")).to_have_text("hr-planners is planner in demo.")
    expect(roles.locator("select[name=role-of-hr-planners]")).to_have_value("planner")

    # Department is secured (the demo's rules): without a rule of its own the group sees none.
    elements = admin.locator("#admin-elements")
    expect(elements.locator("select[name=security-dimension]")).to_be_visible()
    elements.locator("select[name=security-dimension]").select_option("Department")
    rules = elements.locator("input[name=rule-element]")
    expect(rules).to_have_count(6)  # the demo's
    elements.get_by_role("button", name="Add a rule").click()
    rules.last.fill("Human Resources")
    elements.locator("input[name=rule-group]").last.fill("hr-planners")
    elements.locator("select[name=rule-access]").last.select_option("WRITE")
    elements.get_by_role("button", name="Save").click()
    expect(elements.locator(".message")).to_have_text("Saved 7 rules on Department.")
    saved = api(demo_url).get(
        "/api/models/demo/security/elements", params={"dimension": "Department"}
    )
    assert {"element": "Human Resources", "group": "hr-planners", "access": "WRITE"} in [
        {k: r[k] for k in ("element", "group", "access")} for r in saved.json()
    ]

    # The audit log, newest first, names what was just done.
    audit = admin.locator("#admin-audit")
    audit.get_by_role("button", name="Refresh").click()
    rows = audit.locator("tbody tr")
    # (the demo's own setup is in the log too: wait for what this test did, not for its kind)
    expect(rows.filter(has_text="user.add").first).to_contain_text("nina")
    expect(rows.filter(has_text="security.elements").first).to_contain_text("Human Resources")
    texts = rows.all_text_contents()
    at = [
        next(i for i, t in enumerate(texts) if what in t)
        for what in ("security.elements", "role.set", "group.add", "user.add")
    ]
    assert at == sorted(at), texts[:10]
    assert "nina" in texts[at[3]]

    # Nina signs in (through the form, as open_grid does) and plans Human Resources.
    grid = open_grid("nina", department="Human Resources")
    grid.type_into("Recruiting", "2027-07", "950")
    expect(grid.message).to_have_text(re.compile(r"^Saved 1 cell in commit \d+\.$"))
    assert grid.last_commit()["author"] == "nina"

    # Disabled, she is signed out and cannot sign in again.
    users.locator("button[name=toggle-nina]").click()
    expect(users.locator("table.users tr", has_text="nina")).to_contain_text("disabled")
    grid.page.reload()
    expect(grid.page.locator("#signin")).to_be_visible()
    page.context.close()


def test_a_planner_is_not_offered_the_admin_page(browser: Any, demo_url: str) -> None:
    page = signed_in_page(browser, demo_url, "ann", "/#admin")
    expect(page.locator("[data-cell]").first).to_be_visible()  # the grid, not the admin page
    expect(page.locator("#admin-link")).to_be_hidden()
    expect(page.locator("#admin")).to_be_hidden()
    page.context.close()


def test_a_user_without_a_password_is_added_with_a_warning(browser: Any, demo_url: str) -> None:
    page = signed_in_page(browser, demo_url, "admin")
    # the header is done changing once the view is open (its Import… button shows): a click
    # before that can land where the link no longer is
    expect(page.locator("#import-button")).to_be_visible()
    page.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(re.compile(r"#admin$"))
    users = page.locator("#admin-users")
    # Every user's display name is shown, the demo's (the same as the user name) too.
    expect(users.locator("table.users tr", has_text="vera").locator("td").nth(1)).to_have_text(
        "vera"
    )
    users.locator("input[name=new-user]").fill("dana")
    users.locator("input[name=new-display-name]").fill("Dana Scully")
    users.get_by_role("button", name="Add user").click()
    expect(users.locator(".message")).to_have_text(
        "Added dana with no password: dana cannot sign in with one until it is set (Set password)."
    )
    expect(users.locator(".message")).to_have_class(re.compile(r"\bwarning\b"))
    row = users.locator("table.users tr", has_text="dana")
    expect(row.locator("td").nth(1)).to_have_text("Dana Scully")
    shown = api(demo_url).get("/api/admin/users").json()
    assert {"name": "dana", "display_name": "Dana Scully"} in [
        {k: u[k] for k in ("name", "display_name")} for u in shown
    ]
    page.context.close()
