"""``plancube user`` and ``plancube token``: accounts and a first token from the command line,
on both stores; passwords from standard input or asked twice, never in the arguments."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from server.auth import accounts
from server.cli import main, parser
from server.storage import open_store

PASSWORD = "correct horse battery"


def run(argv: list[str], stdin: str = "", *, monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_add_list_passwd_disable_enable(
    store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", store_url]
    add = ["user", "add", "Ann", "--admin", "--email", "ann@example.com", "--password-stdin"]
    assert run([*add, *db], PASSWORD + "\n", monkeypatch=monkeypatch) == 0
    assert "added server admin 'Ann'" in capsys.readouterr().out
    assert run(["user", "add", "bob", "--no-password", *db]) == 0
    capsys.readouterr()
    # the same name again, in another case: refused with its code, exit 2
    assert run(["user", "add", "ANN", "--no-password", *db]) == 2
    assert "[user_exists]" in capsys.readouterr().err

    store = open_store(store_url)
    try:
        user = accounts.verify_password(store, "ann", PASSWORD)
        assert user.server_admin and user.email == "ann@example.com"
        assert PASSWORD not in (user.password_hash or "")
    finally:
        store.close()

    assert run(["user", "list", *db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("  ")[:2] == ["NAME", "SIGNS IN BY"] and "LAST SIGN-IN" in lines[0]
    assert lines[1].split()[:3] == ["Ann", "local", "yes"] and len(lines[1].split()) == 7
    assert lines[2].split()[:2] == ["bob", "local"]

    passwd = ["user", "passwd", "ann", "--password-stdin", *db]
    assert run(passwd, "a new long password\r\n", monkeypatch=monkeypatch) == 0
    assert run(["user", "disable", "ann", *db]) == 0
    assert "disabled 'ann'" in capsys.readouterr().out
    assert run(["user", "list", *db]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:4] == ["Ann", "local", "yes", "yes"]
    assert run(["user", "enable", "ann", *db]) == 0
    store = open_store(store_url)
    try:
        assert accounts.verify_password(store, "ann", "a new long password").id == user.id
        actions = {e.action for e in accounts.audit_entries(store)}
        assert {"user.add", "user.password", "user.disable", "user.enable"} <= actions
    finally:
        store.close()


def test_a_weak_password_is_refused_before_anything_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "never.duckdb"
    cmd = ["user", "add", "ann", "--password-stdin", "--db", str(db)]
    assert run(cmd, "short\n", monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err
    assert "[weak_password]" in err and "at least 10 characters" in err
    assert not db.exists()


def test_the_password_is_asked_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(tmp_path / "ask.duckdb")]
    answers = iter([PASSWORD, "something else entirely"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run(["user", "add", "ann", *db]) == 2
    assert "differ" in capsys.readouterr().err
    answers = iter([PASSWORD, PASSWORD])
    assert run(["user", "add", "ann", *db]) == 0


def test_a_token_is_printed_once_for_scripts(
    store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", store_url]
    assert run(["user", "add", "ci-bot", "--no-password", *db]) == 0
    capsys.readouterr()
    assert (
        run(["token", "create", "--user", "CI-bot", "--name", "nightly", "--days", "7", *db]) == 0
    )
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("pcp_") and "\n" not in token
    assert "shown only now" in out.err and token not in out.err
    store = open_store(store_url)
    try:
        user = accounts.resolve_token(store, token)
        assert user is not None and user.name == "ci-bot"
    finally:
        store.close()
    assert run(["token", "create", "--user", "ci-bot", "--name", "x", "--days", "400", *db]) == 2
    assert "366 days" in capsys.readouterr().err
    assert run(["token", "create", "--user", "nobody", "--name", "x", *db]) == 2
    assert "[user_not_found]" in capsys.readouterr().err


def test_commands_that_change_a_user_never_create_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "none.duckdb"
    assert run(["user", "list", "--db", str(db)]) == 2
    assert run(["user", "disable", "ann", "--db", str(db)]) == 2
    assert run(["token", "create", "--user", "a", "--name", "b", "--db", str(db)]) == 2
    passwd = ["user", "passwd", "ann", "--password-stdin", "--db", str(db)]
    assert run(passwd, PASSWORD + "\n", monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err.count("[store_not_found]") == 4
    assert not db.exists()


def test_help_lists_the_account_commands() -> None:
    text = parser().format_help()
    assert "user" in text and "token" in text
