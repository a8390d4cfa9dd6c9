"""Any OpenID Connect provider, by issuer discovery: a Keycloak-shaped realm of the test IdP."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from server.auth import AuthSettings, TokenValidator, token_validator
from tests.auth.conftest import bearer_app
from tests.auth.idp import TestIdp


def oidc_validator(idp: TestIdp, **settings: str) -> TokenValidator:
    env = {
        "PLANCUBE_AUTH": "oidc",
        "PLANCUBE_OIDC_ISSUER": idp.oidc_issuer(),
        "PLANCUBE_OIDC_AUDIENCE": "plancube",
        **settings,
    }
    validator = token_validator(AuthSettings.from_env(env), verify=idp.ssl_context())
    assert validator is not None
    return validator


def code(client: TestClient, token: str) -> str:
    r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    return str(r.json()["error"]["code"])


def test_an_access_token_is_the_user_iss_plus_sub(idp: TestIdp) -> None:
    principal = asyncio.run(oidc_validator(idp).validate(idp.oidc_token()))
    assert principal.key == f"oidc:{idp.oidc_issuer()}#5b0e2c1a-kc-user"
    assert principal.kind == "delegated" and principal.tenant is None
    assert principal.groups == ("/finance",) and principal.roles == ("planner",)
    assert principal.scopes == {"openid", "profile", "plancube"}
    assert principal.email == "pat@example.org"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"aud": "account"}, "token_wrong_audience"),
        ({"iss": "https://127.0.0.1:1/realms/other"}, "token_wrong_issuer"),
        ({"exp": 1}, "token_expired"),
    ],
)
def test_refused(idp: TestIdp, overrides: dict[str, object], expected: str) -> None:
    with TestClient(bearer_app(oidc_validator(idp))) as client:
        assert code(client, idp.oidc_token(**overrides)) == expected


def test_an_id_token_is_not_an_access_token_unless_the_provider_has_no_other(
    idp: TestIdp,
) -> None:
    id_token = idp.oidc_token(id_token=True, aud="plancube")
    with TestClient(bearer_app(oidc_validator(idp))) as client:
        assert code(client, id_token) == "token_not_access_token"
    lenient = oidc_validator(idp, PLANCUBE_OIDC_ACCEPT_ID_TOKENS="1")
    assert asyncio.run(lenient.validate(id_token)).subject == "5b0e2c1a-kc-user"


def test_a_required_scope(idp: TestIdp) -> None:
    with TestClient(bearer_app(oidc_validator(idp, PLANCUBE_OIDC_SCOPE="plancube"))) as client:
        assert code(client, idp.oidc_token(scope="openid profile")) == "token_missing_scope"
        ok = client.get("/me", headers={"Authorization": f"Bearer {idp.oidc_token()}"})
        assert ok.status_code == 200


def test_a_discovery_document_naming_another_issuer_is_refused(idp: TestIdp) -> None:
    """OIDC Discovery §4.3: the issuer in the document must be the one asked for."""
    validator = oidc_validator(idp, PLANCUBE_OIDC_ISSUER=f"{idp.oidc_issuer()}/")
    with TestClient(bearer_app(validator)) as client:
        r = client.get("/me", headers={"Authorization": f"Bearer {idp.oidc_token()}"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "auth_keys_unavailable"
    assert r.headers["retry-after"]
