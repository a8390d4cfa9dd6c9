"""Where the store is: --db, --db-file, the environment; its password never printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.cli import main
from server.errors import BadRequest
from server.launch import launched
from server.storage.location import DEFAULT_DB, has_password, redact, resolve


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://plan:s3cret@db.example.com:5432/plan", "postgresql://plan:***@db.example.com:5432/plan"),
        ("postgres://plan:p%40ss@db/plan?sslmode=require", "postgres://plan:***@db/plan?sslmode=require"),
        ("postgresql://plan@db/plan?password=s3cret&sslmode=require", "postgresql://plan@db/plan?password=***&sslmode=require"),
        ("postgresql://plan@db/plan", "postgresql://plan@db/plan"),
        ("data/plan:s3cret@x.duckdb", "data/plan:s3cret@x.duckdb"),  # a file path is no URL
    ],
)  # fmt: skip
def test_a_password_is_redacted(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert has_password(url) == (shown != url)


def test_the_store_comes_from_the_first_source_that_names_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "db-url"
    secret.write_text("postgresql://plan:s3cret@db/plan\n")
    monkeypatch.delenv("PLANCUBE_DB", raising=False)
    monkeypatch.delenv("PLANCUBE_DB_FILE", raising=False)
    assert resolve() == DEFAULT_DB
    monkeypatch.setenv("PLANCUBE_DB_FILE", str(secret))
    assert resolve() == "postgresql://plan:s3cret@db/plan"
    monkeypatch.setenv("PLANCUBE_DB", "env.duckdb")
    assert resolve() == "env.duckdb"
    assert resolve(db_file=str(secret)) == "postgresql://plan:s3cret@db/plan"
    assert resolve("flag.duckdb", str(secret)) == "flag.duckdb"
    with pytest.raises(BadRequest, match="cannot read the database URL"):
        resolve(db_file=str(tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(BadRequest, match="is empty"):
        resolve(db_file=str(tmp_path / "empty"))


def _with_password(pg_schema_url: str) -> str:
    # trust authentication ignores the password, so the URL still connects
    return pg_schema_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@", 1)


@pytest.mark.slow
@pytest.mark.postgres
def test_the_banner_never_shows_the_password(tmp_path: Path, pg_schema_url: str) -> None:
    secret = tmp_path / "db-url"
    secret.write_text(_with_password(pg_schema_url))
    log = tmp_path / "serve.log"
    with launched(["serve", "--db-file", str(secret)], log) as server:
        assert server.process.args is not None and "s3cret" not in " ".join(server.process.args)
    text = log.read_text()
    assert "store: postgresql://postgres:***@" in text and "s3cret" not in text


@pytest.mark.postgres
def test_a_password_on_the_command_line_is_warned_about(
    pg_schema_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["model", "export", "nothing", "--db", _with_password(pg_schema_url)]) == 2
    err: Any = capsys.readouterr().err
    assert "warning: the password in --db can be read by every user" in err
    assert "s3cret" not in err and "no model 'nothing'" in err
