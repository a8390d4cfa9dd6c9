"""Take docs/grid.png: the demo grid with a saved edit, a conflict and the side panel open.

python -m tests.web.screenshot [docs/grid.png]
"""

from __future__ import annotations

import sys

from playwright.sync_api import expect, sync_playwright

from tests.web.accounts import api
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.web.demo_server import demo_server
from tests.web.grid_page import GridPage


def main(out: str = "docs/grid.png") -> None:
    with demo_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        ann = GridPage.open(browser, url, "ann", department="Marketing")
        ann.page.set_viewport_size({"width": 1600, "height": 900})
        ann.type_into("Salaries & Wages", "2027-01", "160,000")
        expect(ann.message).to_contain_text("Saved 1 cell")
        ann.toggle("COGS")
        # Ann starts typing; the admin saves the same cell first.
        ann.type_into("Payroll Taxes", "2027-02", "12,400", enter=False)
        api(url).post(
            "/api/models/demo/cubes/PnL/cells",
            json={
                "base_commit": ann.head(),
                "cells": [
                    {
                        "elements": ["Budget", "Marketing", "Payroll Taxes", "2027-02", "Amount"],
                        "value": 11_950,
                    }
                ],
            },
        ).raise_for_status()
        ann.page.keyboard.press("Enter")
        expect(ann.cell("Payroll Taxes", "2027-02")).to_have_class(
            "rgCell cell-input cell-conflict"
        )
        ann.cell("Payroll Taxes", "2027-02").click()
        expect(ann.panel.locator(".history tr")).to_have_count(2)
        ann.page.screenshot(path=out)
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
