"""Entra ID v2 access tokens the validator accepts, and what it makes of them."""

from __future__ import annotations

import asyncio
import time

from fastapi.testclient import TestClient

from server.auth import Principal
from tests.auth.conftest import bearer_app, entra_validator
from tests.auth.idp import API_CLIENT_ID, HOME_TENANT, OTHER_TENANT, TestIdp


def get_me(client: TestClient, token: str) -> dict[str, object]:
    r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_delegated_token_is_the_user_tid_plus_oid(idp: TestIdp, client: TestClient) -> None:
    me = get_me(client, idp.access_token(preferred_username="someone.else@contoso.example"))
    assert me == {
        "key": f"entra:{HOME_TENANT}:{idp.user.oid}",
        "kind": "delegated",
        "tenant": HOME_TENANT,
        "name": "Pat Planner",
        "scopes": ["access_as_user"],
        "roles": [],
        "groups": ["g-finance"],
    }


def test_the_audience_may_be_the_client_id_or_the_app_id_uri(
    idp: TestIdp, client: TestClient
) -> None:
    get_me(client, idp.access_token(aud=f"api://{API_CLIENT_ID}"))
    get_me(client, idp.access_token(aud=API_CLIENT_ID))
    with TestClient(
        bearer_app(entra_validator(idp, PLANCUBE_ENTRA_APP_ID_URI="https://plan.contoso.example"))
    ) as custom:
        get_me(custom, idp.access_token(aud="https://plan.contoso.example"))
        r = custom.get(
            "/me", headers={"Authorization": f"Bearer {idp.access_token(aud='api://x')}"}
        )
        assert r.json()["error"]["code"] == "token_wrong_audience"


def test_a_small_clock_skew_is_allowed(idp: TestIdp, client: TestClient) -> None:
    now = int(time.time())
    get_me(client, idp.access_token(iat=now - 3600, exp=now - 30))
    get_me(client, idp.access_token(nbf=now + 30, iat=now + 30))


def test_multi_tenant_accepts_the_allowed_tenants_by_the_issuer_template(idp: TestIdp) -> None:
    validator = entra_validator(
        idp,
        PLANCUBE_ENTRA_TENANT_ID="organizations",
        PLANCUBE_ENTRA_ALLOWED_TENANTS=f"{HOME_TENANT}, {OTHER_TENANT}",
    )
    with TestClient(bearer_app(validator)) as client:
        for tenant in (HOME_TENANT, OTHER_TENANT):
            assert get_me(client, idp.access_token(tenant))["tenant"] == tenant
        third = "33333333-3333-4333-8333-333333333333"
        r = client.get("/me", headers={"Authorization": f"Bearer {idp.access_token(third)}"})
        assert r.json()["error"]["code"] == "token_wrong_tenant"
        # an allowed tid does not make another tenant's issuer acceptable
        forged = idp.access_token(HOME_TENANT, iss=idp.issuer(OTHER_TENANT))
        r = client.get("/me", headers={"Authorization": f"Bearer {forged}"})
        assert r.json()["error"]["code"] == "token_wrong_issuer"


def test_an_application_token_needs_an_accepted_app_role(idp: TestIdp) -> None:
    validator = entra_validator(idp, PLANCUBE_ENTRA_APP_ROLES="Plan.ReadWrite.All")
    with TestClient(bearer_app(validator)) as client:
        app_token = idp.access_token(scp=None, roles=["Plan.ReadWrite.All"], name=None)
        me = get_me(client, app_token)
        assert me["kind"] == "app" and me["roles"] == ["Plan.ReadWrite.All"]
        r = client.get(
            "/me",
            headers={"Authorization": f"Bearer {idp.access_token(scp=None, roles=['Other'])}"},
        )
        assert r.json()["error"]["code"] == "token_missing_scope"


def test_groups_overage_and_display_claims(idp: TestIdp) -> None:
    validator = entra_validator(idp)
    token = idp.access_token(
        groups=None,
        email="pat@contoso.example",
        _claim_names={"groups": "src1"},
        _claim_sources={"src1": {"endpoint": "https://graph.microsoft.com/v1.0/..."}},
    )
    principal: Principal = asyncio.run(validator.validate(token))
    assert principal.groups == () and principal.groups_overage
    assert principal.username == "pat@contoso.example" and principal.email == "pat@contoso.example"
    assert principal.client_id is not None and principal.subject == idp.user.oid
