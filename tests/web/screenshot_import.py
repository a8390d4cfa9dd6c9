"""Take docs/import.png: the import dialog on the demo, a German Excel CSV read and checked.

python -m tests.web.screenshot_import [docs/import.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.web.demo_server import demo_server
from tests.web.grid_page import GridPage

FILE = (
    "Konto;Monat;Betrag\r\n"
    "Advertising;2027-03;12.500,00\r\n"
    "Events & Trade Shows;2027-03;8.250,50\r\n"
    "Digital Marketing;2027-03;15.300,00\r\n"
    "Advertsing;2027-04;12.500,00\r\n"
    "Digital Marketing;2027-04;16.100,00\r\n"
)


def main(out: str = "docs/import.png") -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        demo_server() as url,
        sync_playwright() as playwright,
    ):
        path = Path(tmp) / "Marketing März-April.csv"
        path.write_bytes(b"\xef\xbb\xbf" + FILE.encode())
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        ann = GridPage.open(browser, url, "ann", department="Marketing")
        page = ann.page
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.get_by_role("button", name="Import…").click()
        dialog = page.locator("dialog#import")
        dialog.locator("input[name=file]").set_input_files(str(path))
        expect(dialog.locator("select[name=delimiter]")).to_have_value(";")
        for dimension, element in {
            "Version": "Budget",
            "Department": "Marketing",
            "Measure": "Amount",
        }.items():
            dialog.get_by_label(f"{dimension}: element", exact=True).select_option(element)
        dialog.get_by_role("button", name="Check").click()
        expect(dialog.locator(".import-problems tbody tr")).to_have_count(1)
        page.screenshot(path=out)
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
