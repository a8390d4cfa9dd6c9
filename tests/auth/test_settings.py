"""The sign-in settings: one object from PLANCUBE_* variables, every mistake one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.auth import AuthSettings, AuthSettingsError, token_validator

TENANT = "11111111-1111-4111-8111-111111111111"
API = "aaaaaaaa-0000-4000-8000-00000000a11a"
ENTRA = {
    "PLANCUBE_AUTH": "entra",
    "PLANCUBE_ENTRA_TENANT_ID": TENANT,
    "PLANCUBE_ENTRA_CLIENT_ID": API,
}


def test_defaults() -> None:
    assert AuthSettings.from_env({}).mode == "local"
    assert token_validator(AuthSettings.from_env({})) is None
    s = AuthSettings.from_env(ENTRA)
    assert s.entra is not None and s.algorithms == ("RS256",)
    assert s.entra.audiences == {API, f"api://{API}"}
    assert s.entra.allowed_tenants == {TENANT} and s.entra.scope == "access_as_user"
    assert s.entra.metadata_url == (
        f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLANCUBE_AUTH": "saml"}, "PLANCUBE_AUTH must be one of"),
        ({**ENTRA, "PLANCUBE_ENTRA_TENANT_ID": "contoso"}, "PLANCUBE_ENTRA_TENANT_ID must be"),
        ({**ENTRA, "PLANCUBE_ENTRA_CLIENT_ID": ""}, "PLANCUBE_ENTRA_CLIENT_ID is required"),
        ({**ENTRA, "PLANCUBE_ENTRA_TENANT_ID": "organizations"}, "PLANCUBE_ENTRA_ALLOWED_TENANTS"),
        ({**ENTRA, "PLANCUBE_AUTH_ALGORITHMS": "RS256,HS256"}, "HS256 not allowed"),
        ({**ENTRA, "PLANCUBE_ENTRA_AUTHORITY": "http://idp"}, "must be an https URL"),
        ({**ENTRA, "PLANCUBE_AUTH_LEEWAY_SECONDS": "5m"}, "number of seconds"),
        ({"PLANCUBE_AUTH": "oidc", "PLANCUBE_OIDC_ISSUER": "https://kc"}, "PLANCUBE_OIDC_AUDIENCE"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(AuthSettingsError, match=re.escape(message)):
        AuthSettings.from_env(env)


def test_every_setting_is_documented() -> None:
    root = Path(__file__).resolve().parents[2]
    source = "".join(p.read_text() for p in (root / "server" / "auth").glob("*.py"))
    names = set(re.findall(r"PLANCUBE_[A-Z_]+[A-Z]", source)) - {
        "PLANCUBE_ENTRA",
        "PLANCUBE_OIDC",
        "PLANCUBE_WEB",
    }
    doc = "".join((root / "docs" / page).read_text() for page in ("sign-in.md", "accounts.md"))
    assert names and {n for n in names if f"`{n}`" not in doc} == set()
