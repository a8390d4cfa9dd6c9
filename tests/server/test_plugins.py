"""The hook registry: the built-in readers are plugins, a plugin's reader imports through the
real route, and an installed distribution's entry point is loaded."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson
import pytest

from server import plugins
from server.imports.read import UnreadableFile
from server.plugins import Reader, hookimpl
from tests.server.helpers import error, load_small

URL = "/api/models/small/cubes/PnL/import"
NDJSON = "application/x-ndjson"
LINES = (
    b'{"Version": "Actual", "Account": "Rev", "Month": "Jan", "Measure": "Amount", "Value": 5}\n'
    b'{"Version": "Actual", "Account": "Rent", "Month": "Feb", "Measure": "Amount", "Value": 2.5}\n'
)


def read_json_lines(raw: bytes) -> pa.Table:
    try:
        return pajson.read_json(pa.BufferReader(raw))
    except pa.ArrowInvalid as exc:
        raise UnreadableFile(f"not JSON lines: {exc}") from None


class JsonLines:
    """A toy plugin, as a third party would write it."""

    @hookimpl
    def plancube_readers(self) -> list[Reader]:
        return [Reader("jsonl", (NDJSON,), read_json_lines, suffixes=(".jsonl",))]


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client)
    return client


@pytest.fixture
def json_lines() -> Iterator[None]:
    name = plugins.register(JsonLines(), "test-jsonl")
    yield
    plugins.unregister(name)


def stored(client: Any) -> dict[str, Any]:
    t = client.app.state.workspace.store.load_cells("small", "PnL").to_pylist()
    return {r["addr"]: r["num"] for r in t}


def test_the_built_in_readers_are_a_plugin_of_the_registry() -> None:
    pm = plugins.manager()
    builtin = pm.get_plugin("server.imports.builtin_readers")
    assert builtin is not None
    assert list(plugins.readers()) == ["csv", "xlsx", "parquet"]
    assert {h.plugin_name for h in pm.hook.plancube_readers.get_hookimpls()} >= {
        "server.imports.builtin_readers"
    }
    # the four hooks are declared (the last two for issues still to come)
    for hook in ("readers", "connectors", "forecast_models", "notifiers"):
        assert hasattr(pm.hook, f"plancube_{hook}")
    assert pm.hook.plancube_forecast_models() == [] and pm.hook.plancube_notifiers() == []


def test_a_plugins_reader_imports_through_the_route(small: Any, json_lines: None) -> None:
    r = small.post(URL, content=LINES, headers={"Content-Type": NDJSON})
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 2 and r.json()["commit"]["source"] == "import"
    assert stored(small) == {"Actual\tRev\tJan\tAmount": 5.0, "Actual\tRent\tFeb\tAmount": 2.5}
    # by name, as the CLI sends a format it does not know the media type of
    body = LINES.replace(b"Actual", b"Budget")
    r = small.post(
        URL,
        content=body,
        headers={"Content-Type": "application/octet-stream"},
        params={"format": "jsonl"},
    )
    assert r.status_code == 200, r.text
    assert stored(small)["Budget\tRent\tFeb\tAmount"] == 2.5
    # its errors are the import's: a broken file is 400, a bad row a row problem
    r = small.post(URL, content=b"{not json\n", headers={"Content-Type": NDJSON})
    assert "not JSON lines" in error(r, 400, "unreadable_file")["message"]
    bad = LINES.replace(b'"Rev"', b'"Revenue"')
    r = small.post(URL, content=bad, headers={"Content-Type": NDJSON})
    err = error(r, 422, "import_rejected")
    assert [(e["row"], e["reason"]) for e in err["details"]["errors"]] == [(2, "unknown_element")]


def test_without_the_plugin_its_format_is_unknown(small: Any) -> None:
    r = small.post(URL, content=LINES, headers={"Content-Type": NDJSON})
    assert NDJSON in error(r, 415, "unsupported_media_type")["message"]
    r = small.post(
        URL,
        content=LINES,
        headers={"Content-Type": "application/octet-stream"},
        params={"format": "jsonl"},
    )
    err = error(r, 422, "invalid_value")
    assert "no reader for format 'jsonl'" in err["message"]
    assert err["details"]["formats"] == ["csv", "parquet", "xlsx"]


def test_imports_dispatch_through_the_registry(small: Any) -> None:
    """Take the built-in plugin away and CSV is no longer read: there is no other path."""
    pm = plugins.manager()
    builtin = pm.unregister(name="server.imports.builtin_readers")
    body = b"Version,Account,Month,Measure,Value\nActual,Rev,Jan,Amount,1\n"
    try:
        r = small.post(URL, content=body, headers={"Content-Type": "text/csv"})
        assert error(r, 415, "unsupported_media_type")["details"]["accepted"] == [
            "application/octet-stream"
        ]
        r = small.post(
            URL,
            content=body,
            headers={"Content-Type": "application/octet-stream"},
            params={"format": "csv"},
        )
        assert "no reader for format 'csv'" in error(r, 422, "invalid_value")["message"]
    finally:
        pm.register(builtin, name="server.imports.builtin_readers")
    r = small.post(URL, content=body, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text


def test_two_readers_of_one_name_are_refused(json_lines: None) -> None:
    name = plugins.register(JsonLines(), "test-jsonl-again")
    try:
        with pytest.raises(plugins.DuplicateName, match="'jsonl'"):
            plugins.readers()
    finally:
        plugins.unregister(name)


def test_a_hook_spelt_wrong_fails_when_registered() -> None:
    class Wrong:
        @hookimpl
        def plancube_reader(self) -> list[Reader]:  # no such hook
            return []

    from pluggy import PluginValidationError

    with pytest.raises(PluginValidationError):
        plugins.register(Wrong(), "test-wrong")
        plugins.manager().check_pending()
    plugins.unregister("test-wrong")


def test_an_installed_distributions_entry_point_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution on sys.path declaring ``[project.entry-points.plancube]`` is loaded the
    way an installed plugin is (its dist-info, as pip writes it)."""
    (tmp_path / "plancube_tsv.py").write_text(
        textwrap.dedent(
            """
            import pyarrow as pa
            import pyarrow.csv as pacsv
            from server.plugins import Reader, hookimpl

            def read(raw, delimiter="\\t"):
                return pacsv.read_csv(
                    pa.BufferReader(raw), parse_options=pacsv.ParseOptions(delimiter=delimiter)
                )

            @hookimpl
            def plancube_readers():
                tsv = ("text/tab-separated-values",)
                return [Reader("tsv", tsv, read, frozenset({"delimiter"}))]
            """
        )
    )
    info = tmp_path / "plancube_tsv-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plancube-tsv\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[plancube]\ntsv = plancube_tsv\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.reset()
    try:
        assert "tsv" in plugins.readers()
        from server.imports.read import format_for, read

        assert format_for("text/tab-separated-values; charset=utf-8") == "tsv"
        table = read(b"a|b\n1|2\n", "tsv", delimiter="|", sheet="ignored")
        assert table.column_names == ["a", "b"]
    finally:
        monkeypatch.undo()
        plugins.reset()
        sys.modules.pop("plancube_tsv", None)
    assert "tsv" not in plugins.readers()


def test_a_reader_cannot_open_a_cross_site_media_type(small: Any) -> None:
    """text/plain is what a page of another site may POST without asking: never a reader's."""

    class Plain:
        @hookimpl
        def plancube_readers(self) -> list[Reader]:
            return [Reader("plain", ("text/plain",), read_json_lines)]

    name = plugins.register(Plain(), "test-plain")
    try:
        r = small.post(URL, content=LINES, headers={"Content-Type": "text/plain"})
        error(r, 415, "unsupported_media_type")
        r = small.post(
            URL,
            content=LINES,
            headers={"Content-Type": "application/octet-stream"},
            params={"format": "plain"},
        )
        assert r.status_code == 200, r.text  # by name it is read
    finally:
        plugins.unregister(name)
