"""msal itself signs in against the test IdP, and the server accepts what it got.

msal refuses an authority that is not ``https://`` (``msal.authority.canonicalize``), so the
test IdP serves TLS with a certificate of a CA made for the test; msal (requests underneath)
trusts that CA through its session's ``verify``. ``instance_discovery=False`` keeps msal from
asking login.microsoftonline.com whether the authority is a known Entra host: nothing leaves
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import msal
import pytest
import requests

from server.auth import TokenValidator
from tests.auth.idp import API_SCOPE, CLIENT_ID, HOME_TENANT, TestIdp


@pytest.fixture
def app(idp: TestIdp) -> Iterator[msal.PublicClientApplication]:
    session = requests.Session()
    session.verify = str(idp.ca_file)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify; no proxies either
    try:
        yield msal.PublicClientApplication(
            CLIENT_ID,
            authority=idp.authority(HOME_TENANT),
            instance_discovery=False,
            http_client=session,
        )
    finally:
        session.close()


def test_device_code_flow(
    idp: TestIdp, app: msal.PublicClientApplication, validator: TokenValidator
) -> None:
    flow = app.initiate_device_flow(scopes=[API_SCOPE])
    assert flow["user_code"] in flow["message"], flow
    # before the user has entered the code: msal polls once and hears "pending"
    pending = app.acquire_token_by_device_flow(dict(flow), exit_condition=lambda _: True)
    assert pending.get("error") == "authorization_pending", pending
    # the user opens the verification page and enters the code
    r = httpx.get(
        flow["verification_uri"], params={"user_code": flow["user_code"]}, verify=idp.ssl_context()
    )
    assert r.status_code == 200
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    principal = asyncio.run(validator.validate(result["access_token"]))
    assert principal.key == f"entra:{HOME_TENANT}:{idp.user.oid}"
    assert principal.scopes == {"access_as_user"} and principal.kind == "delegated"
    # msal cached the account under the user's oid and tenant, and refreshes silently
    (account,) = app.get_accounts()
    assert account["home_account_id"] == f"{idp.user.oid}.{HOME_TENANT}"
    again = app.acquire_token_silent([API_SCOPE], account=account, force_refresh=True)
    assert again is not None and "access_token" in again, again
    assert idp.token_requests[-1] == "refresh_token"
    assert asyncio.run(validator.validate(again["access_token"])).key == principal.key
    # the ID token msal also got is not an access token for the API
    refused = asyncio.run(_code(validator, result["id_token"]))
    assert refused == "token_not_access_token"


def test_auth_code_flow_with_pkce(
    idp: TestIdp, app: msal.PublicClientApplication, validator: TokenValidator
) -> None:
    redirect = "http://localhost:8765/signin"
    flow = app.initiate_auth_code_flow(
        [API_SCOPE], redirect_uri=redirect, response_mode="form_post"
    )
    query = dict(parse_qsl(urlsplit(flow["auth_uri"]).query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    # the browser: the IdP signs the test user in and posts the code back to the redirect URI
    r = httpx.get(flow["auth_uri"], verify=idp.ssl_context(), follow_redirects=False)
    assert r.status_code == 200, r.text
    action = re.search(r'<form method="post" action="([^"]+)"', r.text)
    assert action is not None and action[1] == redirect
    auth_response = {
        name: html.unescape(value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', r.text)
    }
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["oid"] == idp.user.oid
    principal = asyncio.run(validator.validate(result["access_token"]))
    assert principal.key == f"entra:{HOME_TENANT}:{idp.user.oid}"
    # the code is single-use, and PKCE binds it to this flow's verifier
    replay = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" not in replay


async def _code(validator: TokenValidator, token: str) -> str:
    from server.auth import InvalidToken

    try:
        await validator.validate(token)
    except InvalidToken as exc:
        return exc.code
    return "accepted"
