"""A planner at the web grid: the page object the browser tests drive.

Cells are found the way the grid marks them, ``data-cell="row:col"`` with the row and column
index in the server's view; the test names them by element, and the indices come from the same
view asked of the API. Expected numbers come from the API too (asked as the admin,
``tests.web.accounts``): the server is the one source of truth, the test only checks that the
grid shows it. Every page signs in through the grid's own sign-in form.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import expect

from tests.web.accounts import api, password_of

VIEWPORT = {"width": 1600, "height": 1400}


def shown(value: float | None) -> str:
    """A number as the grid displays it (numbers.ts formatValue)."""
    if value is None or value == 0:
        return ""
    text = f"{abs(value):,.0f}" if float(value).is_integer() else f"{abs(value):,.2f}"
    return f"({text})" if value < 0 else text


def new_page(browser: Any) -> Any:
    """A page in a browser context of its own (its own cookies: nobody signed in)."""
    context = browser.new_context(
        viewport=VIEWPORT, permissions=["clipboard-read", "clipboard-write"]
    )
    return context.new_page()


def sign_in(page: Any, user: str, password: str) -> None:
    """Fill in the grid's sign-in form, as a person would, and wait until the header names
    the user."""
    form = page.locator("#signin")
    expect(form).to_be_visible()
    form.locator("input[name=username]").fill(user)
    form.locator("input[name=password]").fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(form).to_be_hidden()
    expect(page.locator("#who")).to_have_text(user)


def signed_in_page(browser: Any, base: str, user: str, path: str = "/") -> Any:
    """A new browser context at `path`, signed in as `user` through the form."""
    page = new_page(browser)
    page.goto(f"{base}{path}")
    sign_in(page, user, password_of(base, user))
    return page


@dataclass
class GridPage:
    page: Any
    base: str
    spec: dict[str, Any]
    rows: list[str]
    columns: list[str]

    @classmethod
    def open(
        cls,
        browser: Any,
        base: str,
        user: str,
        department: str,
        version: str = "Budget",
        rows: str = "descendants(Net Income)",
        columns: str = "descendants(FY2027)",
    ) -> GridPage:
        spec = {
            "rows": [{"dimension": "Account", "members": rows}],
            "columns": [{"dimension": "Month", "members": columns}],
            "filters": {"Version": version, "Department": department, "Measure": "Amount"},
        }
        query = {
            "model": "demo",
            "cube": "PnL",
            "rows": f"Account:{rows}",
            "columns": f"Month:{columns}",
            "Version": version,
            "Department": department,
            "Measure": "Amount",
        }
        page = signed_in_page(browser, base, user, f"/?{urlencode(query)}")
        page.wait_for_selector("#live.on")
        page.wait_for_selector("[data-cell]")
        body = api(base).post("/api/models/demo/cubes/PnL/view", json=spec).json()
        return cls(
            page,
            base,
            spec,
            [h["elements"][0] for h in body["rows"]],
            [h["elements"][0] for h in body["columns"]],
        )

    def close(self) -> None:
        self.page.context.close()

    # -- the grid as a planner sees it ------------------------------------------------------

    def cell(self, row: str, column: str) -> Any:
        r, c = self.rows.index(row), self.columns.index(column)
        return self.page.locator(f'[data-cell="{r}:{c}"]')

    def row_label(self, row: str) -> Any:
        return self.page.locator(f'[data-row="{self.rows.index(row)}"]')

    def toggle(self, row: str) -> None:
        """Collapse or expand a row; returns once the grid shows it (the mark flips ▾/▸)."""
        label = self.row_label(row)
        before = label.text_content() or ""
        self.page.locator(f'[data-toggle="{self.rows.index(row)}"]').click()
        expect(label).not_to_have_text(before)

    def type_into(self, row: str, column: str, text: str, enter: bool = True) -> None:
        """Type into a cell's editor, as a person would: Enter only once the text is there.

        (RevoGrid opens its editor on the first key and focuses it a moment later; an Enter
        pressed in between, faster than any person types, would be lost.)
        """
        self.cell(row, column).click()
        self.page.keyboard.type(text)
        expect(self.editor).to_have_value(text)
        expect(self.editor).to_be_focused()
        if enter:
            self.page.keyboard.press("Enter")

    @property
    def editor(self) -> Any:
        return self.page.locator("revogr-edit input")

    def select(self, row: str, column: str) -> None:
        """Click a cell and wait until the grid has it focused (the side panel names it)."""
        self.cell(row, column).click()
        expect(self.panel.locator("h2")).to_have_text(f"{row}, {column}")

    def paste(
        self,
        row: str,
        column: str,
        block: list[list[str]],
        ending: str = "\r\n",
        with_html: bool = True,
    ) -> None:
        """Paste a block as a spreadsheet puts it on the clipboard: tab-separated, every row
        ended by a line break (Excel on Windows: CRLF), the last one too; and beside it, unless
        `with_html` is false, the block as an HTML table."""
        text = "".join("\t".join(line) + ending for line in block)
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in line) + "</tr>" for line in block
        )
        self.paste_text(row, column, text, f"<table>{cells}</table>" if with_html else None)

    def paste_text(self, row: str, column: str, text: str, html_text: str | None = None) -> None:
        """Put exactly `text` (and `html_text`, if given) on the clipboard; Ctrl+V onto a cell."""
        self.page.evaluate(
            """([text, html]) => {
                const items = {};
                if (html !== null) items["text/html"] = new Blob([html], {type: "text/html"});
                items["text/plain"] = new Blob([text], {type: "text/plain"});
                return navigator.clipboard.write([new ClipboardItem(items)]);
            }""",
            [text, html_text],
        )
        self.select(row, column)
        self.page.keyboard.press("Control+V")

    def answer(self, label: str) -> None:
        """Answer the status line's question (e.g. whether a paste's copy had its totals)."""
        self.message.get_by_role("button", name=label).click()

    @property
    def message(self) -> Any:
        return self.page.locator("#message")

    @property
    def panel(self) -> Any:
        return self.page.locator("#panel")

    # -- the server's truth -----------------------------------------------------------------

    def values(self) -> dict[tuple[str, str], float | None]:
        """The view's values now, by (row, column), from the API."""
        body = api(self.base).post("/api/models/demo/cubes/PnL/view", json=self.spec).json()
        return {
            (r, c): body["values"][i][j]
            for i, r in enumerate(self.rows)
            for j, c in enumerate(self.columns)
        }

    def write(self, cells: dict[tuple[str, str], float | None]) -> int:
        """Set up cells of this view through the API (as the admin); returns the commit."""
        filters = self.spec["filters"]
        body = {
            "message": "test setup",
            "cells": [
                {
                    "elements": [filters["Version"], filters["Department"], r, c, "Amount"],
                    "value": v,
                }
                for (r, c), v in cells.items()
            ],
        }
        r = api(self.base).post("/api/models/demo/cubes/PnL/cells", json=body)
        r.raise_for_status()
        commit = r.json()["head"]
        expect(self.page.locator("#commit")).to_have_text(f"commit {commit}")
        return int(commit)

    def head(self) -> int:
        return int(api(self.base).get("/api/models/demo").json()["head"])

    def last_commit(self) -> dict[str, Any]:
        commits = api(self.base).get("/api/models/demo/commits", params={"limit": 1}).json()
        return dict(commits[0])
