"""Sign-in: who a request speaks for, from a validated access token.

The server trusts an identity provider — Entra ID, or any OpenID Connect provider — to sign
users in; clients (the CLI, the Excel add-in, the web grid) get access tokens from it with msal
and send them as ``Authorization: Bearer``. This package checks those tokens the way Microsoft's
own middleware does and turns a good one into a ``Principal``:

- ``settings``  — ``AuthSettings``, the one settings object (``PLANCUBE_AUTH``,
  ``PLANCUBE_ENTRA_*``, ``PLANCUBE_OIDC_*``), read from the environment;
- ``keys``      — discovery and the issuer's JWKS, cached, refetched on an unknown ``kid`` at a
  bounded rate;
- ``tokens``    — the steps every issuer shares: shape, algorithm allow-list, signature, lifetime;
- ``entra``, ``oidc`` — each issuer's claim rules (issuer, tenant, audience, scope, token kind);
- ``principal`` — what a valid token means; ``errors`` — why one was refused, by stable code;
- ``bearer``    — the FastAPI dependency that reads the header;
- ``msal_app``, ``signin_flows`` — msal pointed at the provider, and the pending web sign-ins
  (``server.api.oidc_login``); ``client`` — ``plancube login`` / ``whoami`` / ``logout``.

Wiring into every route comes with the request context (DESIGN decision 9); docs/sign-in.md is
the administrator's side.
"""

from __future__ import annotations

import ssl

from server.auth.bearer import bearer_principal, bearer_token, use_token_validator
from server.auth.entra import EntraValidator
from server.auth.errors import InvalidToken, KeysUnavailable
from server.auth.keys import IssuerKeys, Verify
from server.auth.oidc import OidcValidator
from server.auth.principal import Principal
from server.auth.settings import AuthSettings, AuthSettingsError
from server.auth.tokens import TokenValidator

__all__ = [
    "AuthSettings",
    "AuthSettingsError",
    "EntraValidator",
    "InvalidToken",
    "IssuerKeys",
    "KeysUnavailable",
    "OidcValidator",
    "Principal",
    "TokenValidator",
    "bearer_principal",
    "bearer_token",
    "token_validator",
    "use_token_validator",
]


def token_validator(settings: AuthSettings, verify: Verify = True) -> TokenValidator | None:
    """The validator the settings ask for; ``None`` when no bearer tokens are accepted.
    ``verify=True``: the CA bundle ``PLANCUBE_AUTH_CA_FILE`` if set, else the system's."""
    if verify is True and settings.ca_file:
        verify = ssl.create_default_context(cafile=settings.ca_file)
    if settings.mode == "entra":
        assert settings.entra is not None
        metadata_url = settings.entra.metadata_url
    elif settings.mode == "oidc":
        assert settings.oidc is not None
        metadata_url = settings.oidc.metadata_url
    else:
        return None
    keys = IssuerKeys(
        metadata_url,
        min_refresh_s=settings.jwks_min_refresh_s,
        max_age_s=settings.jwks_max_age_s,
        timeout_s=settings.http_timeout_s,
        verify=verify,
    )
    if settings.entra is not None:
        return EntraValidator(settings.entra, keys, settings.algorithms, settings.leeway_s)
    assert settings.oidc is not None
    return OidcValidator(settings.oidc, keys, settings.algorithms, settings.leeway_s)
