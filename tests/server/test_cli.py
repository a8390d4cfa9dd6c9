"""The plancube command: model load / export, demo without serving, help that tells the truth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from server.cli import DEFAULT_DB, main, parser
from server.launch import launched
from tests.server.helpers import SMALL_MODEL
from tests.server.remote import login

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory like a fresh clone's: no data/, no $PLANCUBE_DB."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PLANCUBE_DB", raising=False)
    return tmp_path


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


def test_demo_and_export_use_one_default_database(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--no-serve"]) == 0
    assert "loaded model 'demo'" in capsys.readouterr().out
    assert (fresh_dir / DEFAULT_DB).exists()
    assert main(["model", "export", "demo"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["name"] == "demo"


def test_demo_reset_reloads_the_demo_and_keeps_other_models(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = fresh_dir / "small.yaml"
    src.write_text(yaml.safe_dump(SMALL_MODEL))
    assert main(["model", "load", str(src)]) == 0
    assert main(["demo", "--no-serve", "--reset"]) == 0
    assert "loaded model 'demo'" in capsys.readouterr().out
    assert main(["model", "export", "small"]) == 0  # the same file, and still there


def test_export_never_creates_a_database(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "export", "demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and DEFAULT_DB in err and "plancube demo" in err
    assert not (fresh_dir / "data").exists()
    assert main(["model", "export", "demo", "--db", "elsewhere/x.duckdb"]) == 2
    assert not (fresh_dir / "elsewhere").exists()


def test_export_of_a_missing_model_names_the_database_and_its_models(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--no-serve"]) == 0
    capsys.readouterr()
    assert main(["model", "export", "budget"]) == 2
    err = capsys.readouterr().err
    assert "'budget'" in err and DEFAULT_DB in err and "demo" in err


def test_help_lists_every_command() -> None:
    text = parser().format_help()
    for command in ("serve", "demo", "model"):
        assert command in text


def test_help_names_the_one_default_database() -> None:
    p = parser()
    sub = next(a for a in p._actions if a.dest == "command").choices  # type: ignore[attr-defined]
    model = next(a for a in sub["model"]._actions if a.dest == "model_command").choices
    for command in (sub["serve"], sub["demo"], model["load"], model["export"]):
        assert f"$PLANCUBE_DB or {DEFAULT_DB}" in " ".join(command.format_help().split())


def plancube(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.slow
def test_a_second_process_on_a_served_file_gets_one_clear_line(tmp_path: Path) -> None:
    db = str(tmp_path / "served.duckdb")
    src = tmp_path / "small.yaml"
    src.write_text(yaml.safe_dump(SMALL_MODEL))
    assert main(["model", "load", str(src), "--db", db]) == 0
    with launched(["serve", "--db", db], tmp_path / "server.log") as server:
        for args in (
            ["model", "export", "small", "--db", db],
            ["model", "load", str(src), "--replace", "--db", db],
            ["demo", "--no-serve", "--db", db],
            ["serve", "--db", db, "--port", "9"],
        ):
            r = plancube(*args)
            assert r.returncode == 2, (args, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
            assert f"PID {server.process.pid}" in r.stderr and db in r.stderr
            assert f"{server.url}/api" in r.stderr and "stop" in r.stderr
    # stopped: the file is free again, and the note naming the server went with it
    assert main(["model", "export", "small", "--db", db]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("served")) == [
        "served.duckdb"
    ]


@pytest.mark.slow
def test_a_file_held_by_another_program_is_named_with_its_pid(tmp_path: Path) -> None:
    db = str(tmp_path / "other.duckdb")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({db!r}); print('ready', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        r = plancube("model", "export", "small", "--db", db)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1 and f"PID {holder.pid}" in r.stderr, r.stderr
        assert "stop" in r.stderr
    finally:
        holder.communicate("", timeout=30)


@pytest.mark.slow
def test_an_admin_password_in_the_environment_makes_the_first_admin_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a container: ``$PLANCUBE_ADMIN_PASSWORD`` makes ``admin`` on a store without a server
    admin, is never printed, and is ignored once there is one (a changed password stands)."""
    db = str(tmp_path / "first.duckdb")
    secret, changed = "correct horse battery staple", "another long password"
    monkeypatch.setenv("PLANCUBE_ADMIN_PASSWORD", secret)
    first, again = tmp_path / "first.log", tmp_path / "again.log"
    with (
        launched(["serve", "--db", db], first) as server,
        login(server.url, "admin", secret) as admin,
    ):
        assert admin.get("/api/auth/me").json()["user"]["server_admin"] is True
        r = admin.patch("/api/admin/users/admin", json={"password": changed})
        assert r.status_code == 204, r.text
    assert "made the first server admin, 'admin'" in first.read_text()
    with launched(["serve", "--db", db], again) as server:
        refused = httpx.post(
            f"{server.url}/api/auth/login", json={"username": "admin", "password": secret}
        )
        assert refused.status_code == 401
        with login(server.url, "admin", changed) as admin:
            assert admin.get("/api/auth/me").status_code == 200
    assert "$PLANCUBE_ADMIN_PASSWORD ignored" in again.read_text()
    # a password the rules refuse stops start-up in one line, without showing it
    monkeypatch.setenv("PLANCUBE_ADMIN_PASSWORD", "Zq7!xw")
    done = plancube("serve", "--db", str(tmp_path / "other.duckdb"), "--port", "9")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error [weak_password]: $PLANCUBE_ADMIN_PASSWORD: ")
    for text in (first.read_text(), again.read_text(), done.stdout, done.stderr):
        assert secret not in text and changed not in text and "Zq7!xw" not in text
