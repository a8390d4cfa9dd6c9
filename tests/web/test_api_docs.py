"""The API documentation pages render the project's OpenAPI 3.1 spec in a real browser.

An HTTP 200 proves little: an old Swagger UI answers 200 and then shows "Unable to render this
definition". These tests open ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) in Chromium and look
for every operation of the spec on the page, and check that no asset came from another host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.grid_page import new_page

pytestmark = pytest.mark.browser


def operations(demo_url: str) -> list[tuple[str, str, str, str]]:
    """(method, path, summary, operation id) of every operation the server documents."""
    spec = httpx.get(f"{demo_url}/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    ops = [
        (method.upper(), path, op["summary"], op["operationId"])
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]
    assert len(ops) > 20
    return ops


def open_page(browser: Any, url: str) -> tuple[Any, list[str], list[str]]:
    """The page, the hosts of every HTTP request it made, and its console errors."""
    page = new_page(browser)
    hosts: list[str] = []
    errors: list[str] = []
    page.on(
        "request",
        lambda r: hosts.append(urlsplit(r.url).netloc) if r.url.startswith("http") else None,
    )
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    return page, hosts, errors


def test_swagger_ui_lists_every_operation(browser: Any, demo_url: str) -> None:
    page, hosts, errors = open_page(browser, f"{demo_url}/docs")
    blocks = page.locator(".opblock")
    expect(blocks.first).to_be_visible()
    expect(page.get_by_text("Unable to render this definition")).to_have_count(0)
    for method, path, summary, _ in operations(demo_url):
        block = page.locator(f".opblock-{method.lower()}").filter(
            has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
        )
        expect(block, f"{method} {path}").to_have_count(1)
        expect(block.locator(".opblock-summary-description")).to_have_text(summary)
    assert set(hosts) == {urlsplit(demo_url).netloc}, hosts
    assert errors == []
    page.context.close()


def test_redoc_lists_every_operation(browser: Any, demo_url: str) -> None:
    page, hosts, errors = open_page(browser, f"{demo_url}/redoc")
    menu = page.locator("[role=menuitem], .menu-content li label")
    expect(menu.first).to_be_visible()
    for method, path, summary, operation in operations(demo_url):
        # each operation is a section headed by its summary, its method and path beside it
        section = page.locator(f'[data-section-id="operation/{operation}"]')
        expect(section, f"{method} {path}").to_have_count(1)
        expect(section.get_by_role("heading", level=2)).to_have_text(summary)
        expect(section).to_contain_text(path)
    body = page.locator("body").inner_text()
    assert "Something went wrong" not in body
    assert set(hosts) == {urlsplit(demo_url).netloc}, hosts
    assert errors == []
    page.context.close()
