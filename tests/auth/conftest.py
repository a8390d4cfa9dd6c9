"""The test IdP, served once for the session, and a tiny app that signs requests in with it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from server.auth import (
    AuthSettings,
    Principal,
    TokenValidator,
    bearer_principal,
    token_validator,
    use_token_validator,
)
from server.errors import install_handlers
from tests.auth.idp import API_CLIENT_ID, HOME_TENANT, TestIdp, served_idp


@pytest.fixture(scope="session")
def idp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestIdp]:
    with served_idp(tmp_path_factory.mktemp("idp")) as idp:
        yield idp


@pytest.fixture
def idp(idp_server: TestIdp) -> Iterator[TestIdp]:
    """The session's IdP, its keys as they were once the test is done (tests rotate them)."""
    keys = list(idp_server.keys)
    yield idp_server
    idp_server.keys = keys


def entra_env(idp: TestIdp, **settings: str) -> dict[str, str]:
    return {
        "PLANCUBE_AUTH": "entra",
        "PLANCUBE_ENTRA_AUTHORITY": idp.url,
        "PLANCUBE_ENTRA_TENANT_ID": HOME_TENANT,
        "PLANCUBE_ENTRA_CLIENT_ID": API_CLIENT_ID,
        **settings,
    }


def entra_validator(idp: TestIdp, **settings: str) -> TokenValidator:
    validator = token_validator(
        AuthSettings.from_env(entra_env(idp, **settings)), verify=idp.ssl_context()
    )
    assert validator is not None
    return validator


def bearer_app(validator: TokenValidator) -> FastAPI:
    """A tiny app with one signed-in route, the way routes will declare it."""
    app = FastAPI()
    install_handlers(app)
    use_token_validator(app, validator)

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(bearer_principal)]) -> dict[str, Any]:
        return {
            "key": principal.key,
            "kind": principal.kind,
            "tenant": principal.tenant,
            "name": principal.name,
            "scopes": sorted(principal.scopes),
            "roles": list(principal.roles),
            "groups": list(principal.groups),
        }

    return app


@pytest.fixture
def validator(idp: TestIdp) -> TokenValidator:
    return entra_validator(idp)


@pytest.fixture
def client(validator: TokenValidator) -> Iterator[TestClient]:
    with TestClient(bearer_app(validator)) as c:
        yield c
