"""The examples in README.md and docs/ are real: the model file example loads and computes, every
shell example runs as written against a real demo server, and the API request examples are
accepted by it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_model_file_example_loads(client: Any) -> None:
    text = (DOCS / "model-file.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    model = yaml.safe_load(block.group(1))
    r = client.post("/api/models/import", json=model)
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/models/demo/cubes/PnL/cells",
        json={"cells": [{"elements": ["Revenue", "Jan", "Units"], "value": 100.0}]},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/models/demo/cubes/PnL/view",
        json={
            "rows": [{"dimension": "Account", "members": ["Revenue", "Gross Margin"]}],
            "columns": [{"dimension": "Month", "members": ["Jan", "Q1"]}],
            "filters": {"Measure": "Rate"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["values"] == [[12.0, 12.0], [12.0, 12.0]]


# -- the shell examples of README.md and docs/*.md, run as written against a real demo server ---

ROOT = DOCS.parent
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^```(sh|bash|shell)\n(.*?)^```", re.S | re.M)
# The blocks run in bash exactly as written, after these definitions (their one difference from
# a reader's shell): curl fails on an HTTP error and still prints the body; `make` and `npm run`
# only check that the target or script exists (they are this suite, builds, or servers that run
# until stopped); plancube is this checkout's.
SHIMS = """\
set -euo pipefail
curl() { command curl --show-error --fail-with-body "$@"; echo; }
make() { command make --dry-run "$@" > /dev/null; }
npm() {
  [ "$1" = run ] && "$PYTHON" -c \
    'import json, sys; sys.exit(sys.argv[1] not in json.load(open("package.json"))["scripts"])' "$2"
}
plancube() { "$PYTHON" -m server.cli "$@"; }
"""


def shell_examples() -> list[Any]:
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text[: m.start()].count("\n") + 1
            name = f"{page.relative_to(ROOT)}:{line}"
            out.append(pytest.param(m.group(2), id=name))
    return out


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    from tests.web.demo_server import demo_server

    with demo_server() as url:
        yield url


@pytest.fixture(scope="module")
def demo_admin(demo_url: str) -> dict[str, str]:
    """Headers of the demo's admin, signed in as a browser is: the password (every demo user's,
    ``server.demo_users``) at ``POST /api/auth/login``, then its session cookie and CSRF token."""
    from server.api.guards import CSRF_HEADER, SESSION_COOKIE
    from server.demo_users import DEMO_PASSWORD

    r = httpx.post(
        f"{demo_url}/api/auth/login", json={"username": "admin", "password": DEMO_PASSWORD}
    )
    assert r.status_code == 200, r.text
    cookie = r.cookies[SESSION_COOKIE]
    return {"Cookie": f"{SESSION_COOKIE}={cookie}", CSRF_HEADER: r.json()["csrf_token"]}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch view of this checkout: every top-level entry linked, but its own data/ with the
    demo loaded, as ``make demo`` leaves it (so examples may write files and use the default
    database without touching the developer's)."""
    scratch = tmp_path_factory.mktemp("checkout")
    for entry in ROOT.iterdir():
        if entry.name != "data":
            (scratch / entry.name).symlink_to(entry)
    env = {k: v for k, v in os.environ.items() if k != "PLANCUBE_DB"}
    subprocess.run(
        [sys.executable, "-m", "server.cli", "demo", "--no-serve"],
        cwd=scratch,
        env=env,
        check=True,
        capture_output=True,
    )
    return scratch


def test_every_page_has_its_shell_examples_found() -> None:
    found = {p.id.split(":")[0] for p in shell_examples()}
    assert {"README.md", "docs/model-file.md", "docs/web-grid.md"} <= found


@pytest.mark.slow
@pytest.mark.parametrize("block", shell_examples())
def test_shell_example_runs_as_written(block: str, demo_url: str, checkout: Path) -> None:
    script = SHIMS + block.replace("localhost:8000", demo_url.removeprefix("http://"))
    env = {k: v for k, v in os.environ.items() if k != "PLANCUBE_DB"}
    r = subprocess.run(
        ["bash", "-c", script],
        cwd=checkout,
        env={**env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"


def test_inline_make_commands_name_real_targets() -> None:
    spans = {
        m.group(1)
        for page in PAGES
        for m in re.finditer(r"`make ([a-z][a-z -]*)`", page.read_text(encoding="utf-8"))
    }
    assert spans
    for targets in spans:
        r = subprocess.run(
            ["make", "--dry-run", *targets.split()], cwd=ROOT, capture_output=True, text=True
        )
        assert r.returncode == 0, f"make {targets}: {r.stderr}"


def request_examples() -> list[Any]:
    """The request bodies docs/api.md shows for a view, a write and a spread of the demo."""
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    out = []
    for m in re.finditer(r"^```json\n(.*?)^```", text, re.S | re.M):
        try:
            body = json.loads(m.group(1))
        except ValueError:
            continue  # an answer with elisions (…), not a request
        if not isinstance(body, dict):
            continue
        kind = next((k for k in ("rows", "cells", "method") if k in body), None)
        if kind is not None and "model" not in body:
            line = text[: m.start()].count("\n") + 1
            path = {"rows": "view", "cells": "cells", "method": "spread"}[kind]
            out.append(pytest.param(path, body, id=f"docs/api.md:{line}:{path}"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("path", "body"), request_examples())
def test_api_request_example_is_accepted_by_the_demo(
    path: str, body: dict[str, Any], demo_url: str, demo_admin: dict[str, str]
) -> None:
    """Sent as written by the demo's admin, but with the server's head as ``base_commit`` (the
    docs' commit ids are illustrations, like their host)."""
    if "base_commit" in body:
        model = httpx.get(f"{demo_url}/api/models/demo", headers=demo_admin)
        body = {**body, "base_commit": model.json()["head"]}
    r = httpx.post(
        f"{demo_url}/api/models/demo/cubes/PnL/{path}",
        json=body,
        headers=demo_admin,
        timeout=60,
    )
    assert r.status_code == 200, r.text


def test_the_limits_and_their_errors_are_documented() -> None:
    from server import limits
    from server.errors import CubeTooLarge, ExportTooLarge, FeedLimit, ModelUnavailable

    api = (DOCS / "api.md").read_text()
    codes = (DOCS / "architecture.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "## Limits" in api
    for setting in (
        limits.SETTING,
        limits.BODY_SETTING,
        limits.SUBSCRIPTIONS_SETTING,
        limits.FEED_CELLS_SETTING,
        limits.EXPORT_SETTING,
    ):
        assert f"`{setting}`" in api and setting in readme, setting
    for value in (
        limits.MAX_MESSAGE,
        limits.MAX_DESCRIPTION,
        limits.MAX_TEXT,
        limits.MAX_FORMULA,
        limits.MAX_ALIAS_NODES,
        limits.MAX_COMMITS_PAGE,
        limits.MAX_CHANGES_PAGE,
        limits.DEFAULT_MAX_SUBSCRIPTIONS,
        limits.DEFAULT_MAX_FEED_CELLS,
        limits.DEFAULT_MAX_EXPORT_CELLS,
    ):
        assert f"{value:,}" in api, value
    for error in (CubeTooLarge, ExportTooLarge, ModelUnavailable, FeedLimit):
        assert f"`{error.code}`" in api and f"`{error.code}`" in codes
