"""The plancube command: model load / export, demo without serving, help that tells the truth."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from server.cli import main, parser
from tests.server.helpers import SMALL_MODEL


def test_model_load_and_export_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "cli.duckdb")
    src = tmp_path / "small.yaml"
    model = {**SMALL_MODEL, "data": {"PnL": [["Actual", "Rev", "Jan", "Amount", 5.0]]}}
    src.write_text(yaml.safe_dump(model))
    assert main(["model", "load", str(src), "--db", db]) == 0
    assert "loaded model 'small'" in capsys.readouterr().out
    out = tmp_path / "out.json"
    assert (
        main(["model", "export", "small", "--db", db, "--data", "--format", "json", "-o", str(out)])
        == 0
    )
    exported = yaml.safe_load(out.read_text())
    assert exported["data"]["PnL"] == [["Actual", "Rev", "Jan", "Amount", 5.0]]
    # loading again without --replace is refused with a clear message and exit code 2
    assert main(["model", "load", str(src), "--db", db]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["model", "load", str(src), "--db", db, "--replace"]) == 0


def test_invalid_model_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "bad.json"
    src.write_text('{"name": "x", "dimensions": [{"name": "D", "elements": ["a", "a"]}]}')
    assert main(["model", "load", str(src), "--db", str(tmp_path / "db.duckdb")]) == 2
    assert "invalid_model" in capsys.readouterr().err


def test_demo_loads_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "demo.duckdb")
    assert main(["demo", "--db", db, "--no-serve"]) == 0
    assert "loaded model 'demo'" in capsys.readouterr().out
    assert main(["demo", "--db", db, "--no-serve"]) == 0
    assert "loaded model" not in capsys.readouterr().out  # kept, not reloaded


def test_help_lists_every_command() -> None:
    text = parser().format_help()
    for command in ("serve", "demo", "model"):
        assert command in text
