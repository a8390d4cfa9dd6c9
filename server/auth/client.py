"""Signing the command line in: ``plancube login``, ``whoami`` and ``logout``, per server.

``login`` asks the server how it signs users in (``GET /api/auth/config``: the identity
provider's authority, the client id, the API's scopes) and runs msal's **device-code flow**: it
prints where to go and the code to enter, the user signs in there in any browser (with MFA,
conditional access and all that the provider asks), and msal gets an access token and a refresh
token. Nothing is typed into the terminal but the command.

Tokens are kept per user and per server in a file under the user's configuration directory —
``$XDG_CONFIG_HOME/plancube/tokens/`` (``~/.config/…`` by default), one file per server URL,
mode 0600 in a 0700 directory — holding msal's ``SerializableTokenCache``. ``whoami`` (and any
later command that calls the server) takes the cached account's token with
``acquire_token_silent``: a valid access token as it is, else one refreshed with the refresh
token, and the file is rewritten when msal's cache changed. ``logout`` deletes the file.

A server with local accounts only has no provider to sign in with: ``login`` says so and points
to personal access tokens; ``login --token-stdin`` stores one (read from standard input, never
from the arguments, checked against the server first) in the same file, used the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msal

from server.auth import msal_app

TIMEOUT_S = 30.0


class LoginError(Exception):
    """Something the user can act on; the message says what."""


def normalize(server: str) -> str:
    """A server URL as tokens are filed under it: scheme and host lower-case, no trailing /."""
    parts = urlsplit(server.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise LoginError(
            f"--server must be an http(s) URL, such as https://plan.example.com, not {server!r}"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".config") / "plancube"


def cache_file(server: str, directory: Path | None = None) -> Path:
    url = normalize(server)
    host = urlsplit(url).netloc.replace(":", "_")
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return (directory or config_dir()) / "tokens" / f"{host}-{digest}.json"


def login(
    server: str,
    *,
    show: Callable[[str], None] = print,
    ca_file: str | None = None,
    directory: Path | None = None,
) -> dict[str, Any]:
    """Sign in with the device-code flow; who signed in (``/api/auth/me``)."""
    url = normalize(server)
    provider = _provider(url, ca_file)
    cache = msal.SerializableTokenCache()
    app = _app(provider, cache, ca_file)
    flow = app.initiate_device_flow(scopes=provider["scopes"])
    if "user_code" not in flow:
        raise LoginError(f"the identity provider refused the sign-in: {_why(flow)}")
    show(flow["message"])
    result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        raise LoginError(f"the sign-in did not finish: {_why(result)}")
    me = _me(url, result["access_token"], ca_file)
    _save(cache_file(url, directory), {"server": url, "msal": cache.serialize()})
    return me


def store_token(
    server: str, token: str, *, ca_file: str | None = None, directory: Path | None = None
) -> dict[str, Any]:
    """Keep a personal access token for the server, once the server has accepted it."""
    url = normalize(server)
    token = token.strip()
    if not token:
        raise LoginError("no token on standard input")
    me = _me(url, token, ca_file)
    _save(cache_file(url, directory), {"server": url, "token": token})
    return me


def access_token(server: str, *, ca_file: str | None = None, directory: Path | None = None) -> str:
    """A token for the server from the cache: the stored personal access token, or msal's
    access token for the cached account, refreshed if need be."""
    url = normalize(server)
    path = cache_file(url, directory)
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        raise LoginError(f"not signed in to {url}: run plancube login --server {url}") from None
    if "token" in stored:
        return str(stored["token"])
    cache = msal.SerializableTokenCache()
    cache.deserialize(stored["msal"])
    provider = _provider(url, ca_file)
    app = _app(provider, cache, ca_file)
    accounts = app.get_accounts()
    result = app.acquire_token_silent(provider["scopes"], account=accounts[0]) if accounts else None
    if not result or "access_token" not in result:
        raise LoginError(
            f"the sign-in to {url} has expired ({_why(result or {})}): run plancube login "
            f"--server {url}"
        )
    if cache.has_state_changed:
        _save(path, {"server": url, "msal": cache.serialize()})
    return str(result["access_token"])


def whoami(
    server: str, *, ca_file: str | None = None, directory: Path | None = None
) -> dict[str, Any]:
    url = normalize(server)
    return _me(url, access_token(url, ca_file=ca_file, directory=directory), ca_file)


def logout(server: str, *, directory: Path | None = None) -> bool:
    """Forget the server's tokens; whether there were any. (A refresh token is not revoked at
    the provider: Entra has no endpoint for that; an admin revokes a user's sessions there.)"""
    try:
        cache_file(server, directory).unlink()
    except FileNotFoundError:
        return False
    return True


def describe(me: dict[str, Any]) -> str:
    """``/api/auth/me`` in a few lines."""
    user = me["user"]
    lines = [f"{user['display_name']} ({user['name']}), signed in by {me['via']}"]
    if user.get("server_admin"):
        lines.append("server admin")
    for m in me.get("models", []):
        lines.append(f"{m['model']}: {m['role']}")
    return "\n".join(lines)


def _provider(url: str, ca_file: str | None) -> dict[str, Any]:
    config = _get(url, "/api/auth/config", None, ca_file)
    provider = config.get("provider")
    if config.get("mode") == "local" or not provider:
        raise LoginError(
            f"{url} signs users in with local accounts, not an identity provider: create a "
            "personal access token (plancube token create, or POST /api/auth/tokens) and "
            f"store it with: plancube login --server {url} --token-stdin"
        )
    if not provider.get("client_id"):
        raise LoginError(
            f"{url} names no client id for its identity provider (PLANCUBE_WEB_CLIENT_ID)"
        )
    return dict(provider)


def _app(
    provider: dict[str, Any], cache: msal.TokenCache, ca_file: str | None
) -> msal.ClientApplication:
    kind: msal_app.Kind = "oidc" if provider.get("kind") == "oidc" else "entra"
    try:
        return msal_app.application(
            kind,
            provider["authority"],
            provider["client_id"],
            http_client=msal_app.http_session(ca_file),
            token_cache=cache,
        )
    except ValueError as exc:
        raise LoginError(
            f"the identity provider {provider['authority']} cannot be used: {exc}"
        ) from None


def _me(url: str, token: str, ca_file: str | None) -> dict[str, Any]:
    return _get(url, "/api/auth/me", token, ca_file)


def _get(url: str, path: str, token: str | None, ca_file: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
        r = httpx.get(f"{url}{path}", headers=headers, verify=verify, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise LoginError(f"{url} does not answer: {exc}") from None
    if r.status_code != 200:
        try:
            error = r.json()["error"]
            why = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            why = f"HTTP {r.status_code}"
        raise LoginError(f"{url}{path} refused: {why}")
    body: dict[str, Any] = r.json()
    return body


def _why(result: dict[str, Any]) -> str:
    return str(result.get("error_description") or result.get("error") or "no token")[:300]


def _save(path: Path, content: dict[str, Any]) -> None:
    """Write the file readable by its owner only, and whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(content, out)
    os.replace(tmp, path)
