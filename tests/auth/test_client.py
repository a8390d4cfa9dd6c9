"""``plancube login`` / ``whoami`` / ``logout`` against the test IdP, with msal for real.

The device code is approved the way a user does it, on the IdP's /devicelogin page, while the
command polls. One server is a real ``plancube serve`` process signing requests in through the
test IdP — its key fetches trust the IdP's CA through ``PLANCUBE_AUTH_CA_FILE`` — the other an
in-process server with local accounts only.
"""

from __future__ import annotations

import json
import re
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import cli
from server.app import create_app
from server.auth import AuthSettings, client
from server.launch import launched
from tests.auth.conftest import entra_env
from tests.auth.idp import CLIENT_ID, TestIdp
from tests.auth.live import served
from tests.signin import token_for


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def entra_server(idp: TestIdp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    env = entra_env(idp, PLANCUBE_WEB_CLIENT_ID=CLIENT_ID)
    env["PLANCUBE_AUTH_CA_FILE"] = str(idp.ca_file)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    command = ["serve", "--db", str(tmp_path / "served.duckdb")]
    with launched(command, tmp_path / "server.log") as server:
        yield server.url


def approve_when_asked(idp: TestIdp, capsys: pytest.CaptureFixture[str]) -> str:
    """Wait for the device-code message, then enter the code on the IdP's page."""
    deadline = time.monotonic() + 30
    out = ""
    while not (found := re.search(r"enter the code (\w+)", out)):
        assert time.monotonic() < deadline, out
        time.sleep(0.05)
        out += capsys.readouterr().out
    r = httpx.get(
        f"{idp.url}/devicelogin", params={"user_code": found[1]}, verify=idp.ssl_context()
    )
    assert r.status_code == 200
    return out


def test_login_whoami_logout(
    idp: TestIdp, entra_server: str, config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = str(idp.ca_file)
    codes: list[int] = []
    login = threading.Thread(
        target=lambda: codes.append(cli.main(["login", "--server", entra_server, "--ca-file", ca]))
    )
    login.start()
    shown = approve_when_asked(idp, capsys)
    login.join(60)
    assert codes == [0], capsys.readouterr()
    assert f"{idp.url}/devicelogin" in shown
    assert f"signed in: {idp.user.name} ({idp.user.username}), signed in by bearer" in (
        shown + capsys.readouterr().out
    )
    # msal's cache, for this server only, readable by its owner only
    path = client.cache_file(entra_server)
    assert path.parent.parent == config_home / "plancube"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert stored["server"] == entra_server and "RefreshToken" in json.loads(stored["msal"])

    assert cli.main(["whoami", "--server", entra_server + "/", "--ca-file", ca]) == 0
    assert capsys.readouterr().out.startswith(f"{idp.user.name} ({idp.user.username})")
    # the access token expires: whoami refreshes it with the refresh token, and keeps the new one
    _expire_access_tokens(path)
    before = len(idp.token_requests)
    assert cli.main(["whoami", "--server", entra_server, "--ca-file", ca]) == 0
    assert idp.token_requests[before:] == ["refresh_token"]
    assert _access_token_expiry(path) > time.time()

    assert cli.main(["logout", "--server", entra_server]) == 0
    assert capsys.readouterr().out.strip().endswith("signed out")
    assert not path.exists()
    assert cli.main(["whoami", "--server", entra_server, "--ca-file", ca]) == 2
    assert f"not signed in to {entra_server}: run plancube login" in capsys.readouterr().err


def _expire_access_tokens(path: Path) -> None:
    stored = json.loads(path.read_text())
    cache = json.loads(stored["msal"])
    for token in cache["AccessToken"].values():
        token["expires_on"] = token["extended_expires_on"] = "0"
    stored["msal"] = json.dumps(cache)
    path.write_text(json.dumps(stored))


def _access_token_expiry(path: Path) -> float:
    cache = json.loads(json.loads(path.read_text())["msal"])
    return max(float(t["expires_on"]) for t in cache["AccessToken"].values())


def test_a_keycloak_realm_login(idp: TestIdp, tmp_path: Path, config_home: Path) -> None:
    """The device-code flow against a generic OIDC provider (``oidc_authority``)."""
    from tests.auth.idp import REALM_CLIENT_ID

    env = {
        "PLANCUBE_AUTH": "oidc",
        "PLANCUBE_OIDC_ISSUER": idp.oidc_issuer(),
        "PLANCUBE_OIDC_AUDIENCE": "plancube",
        "PLANCUBE_WEB_CLIENT_ID": REALM_CLIENT_ID,
        "PLANCUBE_AUTH_CA_FILE": str(idp.ca_file),
    }
    app = create_app(tmp_path / "kc.duckdb", auth=AuthSettings.from_env(env))
    messages: list[str] = []

    def approve(message: str) -> None:
        messages.append(message)
        code = re.search(r"enter the code (\w+)", message)
        assert code is not None
        httpx.get(f"{idp.url}/devicelogin", params={"user_code": code[1]}, verify=idp.ssl_context())

    with served(app) as url:
        me = client.login(url, show=approve, ca_file=str(idp.ca_file))
        assert me["user"]["name"] == "pat" and me["via"] == "bearer"
        assert client.whoami(url, ca_file=str(idp.ca_file))["user"]["email"] == "pat@example.org"


def test_a_local_server_takes_a_personal_access_token(
    tmp_path: Path, config_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    app = create_app(tmp_path / "local.duckdb", auth=AuthSettings.from_env({}))
    with served(app) as url:
        assert cli.main(["login", "--server", url]) == 2
        err = capsys.readouterr().err
        assert "local accounts" in err and "--token-stdin" in err and "personal access token" in err
        # a wrong token is refused by the server before anything is kept
        monkeypatch.setattr("sys.stdin", _Lines("pcp_not-a-token\n"))
        assert cli.main(["login", "--server", url, "--token-stdin"]) == 2
        assert "refused" in capsys.readouterr().err and not client.cache_file(url).exists()
        token = token_for(app.state.workspace.store, "ann")
        monkeypatch.setattr("sys.stdin", _Lines(token + "\n"))
        assert cli.main(["login", "--server", url, "--token-stdin"]) == 0
        assert "signed in: ann (ann), signed in by token" in capsys.readouterr().out
        assert token not in " ".join(map(str, client.cache_file(url).parent.iterdir()))
        assert cli.main(["whoami", "--server", url]) == 0
        assert capsys.readouterr().out.startswith("ann (ann), signed in by token")
        assert cli.main(["logout", "--server", url]) == 0 and not client.cache_file(url).exists()


def test_servers_have_files_of_their_own(config_home: Path) -> None:
    a = client.cache_file("https://Plan.Example.com/")
    assert a == client.cache_file("https://plan.example.com")
    assert a != client.cache_file("https://plan.example.com:8443")
    assert a != client.cache_file("http://plan.example.com")
    with pytest.raises(client.LoginError, match="must be an http"):
        client.cache_file("plan.example.com")


class _Lines:
    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        return self.text
