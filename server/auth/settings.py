"""Sign-in settings: one object, read from ``PLANCUBE_*`` environment variables.

``PLANCUBE_AUTH`` picks how requests are signed in: ``local`` (the default: local accounts,
their sessions and personal access tokens), ``entra`` (Entra ID v2 access tokens as well) or
``oidc`` (any OpenID Connect provider found by issuer discovery, as well). Every request signs
in: there is no mode in which a client names the user it acts for. The rest configure the chosen
provider, and ``PLANCUBE_WEB_*`` the client registration the server signs browsers in with
(``server.api.oidc_login``) and tells the CLI and the add-in to use; docs/sign-in.md lists every
setting, its default and where its value comes from in the Entra admin centre. A wrong value
is one ``AuthSettingsError`` line naming the setting, at start-up, rather than a refusal of
every request later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

Mode = Literal["entra", "oidc", "local"]
MODES: tuple[Mode, ...] = ("entra", "oidc", "local")

ENTRA_AUTHORITY = "https://login.microsoftonline.com"
# Entra signs access tokens with RS256 only; an asymmetric algorithm is the only safe kind for a
# verifier holding public keys (HS256 with the public key as the secret is the classic forgery)
DEFAULT_ALGORITHMS = ("RS256",)
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
CALLBACK_PATH = "/api/auth/oidc/callback"  # where the identity provider sends the browser back
MULTI_TENANT = frozenset({"organizations", "common"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class AuthSettingsError(ValueError):
    """A sign-in setting is missing or wrong; the message names it."""


@dataclass(frozen=True)
class EntraSettings:
    tenant_id: str  # a tenant GUID, or "organizations" for a multi-tenant API
    client_id: str  # the API app registration's application (client) id
    app_id_uri: str  # api://{client_id} unless set
    allowed_tenants: frozenset[str]
    scope: str = "access_as_user"
    app_roles: frozenset[str] = frozenset()  # app-only tokens need one of these; none: refused
    authority: str = ENTRA_AUTHORITY

    @property
    def metadata_url(self) -> str:
        return f"{self.authority}/{self.tenant_id}/v2.0/.well-known/openid-configuration"

    @property
    def audiences(self) -> frozenset[str]:
        return frozenset({self.client_id, self.app_id_uri})


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audiences: frozenset[str]
    scope: str | None = None  # required in `scope`/`scp` when set
    groups_claim: str = "groups"
    accept_id_tokens: bool = False  # for providers whose only JWT is the ID token (Google)

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


@dataclass(frozen=True)
class WebClientSettings:
    """The client registration browsers (and the CLI, the add-in) sign in through: the server
    runs the authorization-code flow with it (``server.api.oidc_login``)."""

    client_id: str
    client_secret: str | None = None  # set: the server is a confidential client
    redirect_uri: str | None = None  # None: {the server's address}{CALLBACK_PATH}

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        secret = "***" if self.client_secret else None
        return f"WebClientSettings({self.client_id!r}, {secret}, {self.redirect_uri!r})"


@dataclass(frozen=True)
class AuthSettings:
    mode: Mode = "local"
    entra: EntraSettings | None = None
    oidc: OidcSettings | None = None
    web: WebClientSettings | None = None  # web sign-in through the identity provider
    ca_file: str | None = None  # the CA bundle trusted for the identity provider
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_s: float = 60.0  # clock skew allowed on exp and nbf
    jwks_min_refresh_s: float = 300.0  # an unknown kid refetches the keys at most this often
    jwks_max_age_s: float = 12 * 3600.0  # keys older than this are refetched before use
    http_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthSettings:
        env = os.environ if env is None else env
        mode = env.get("PLANCUBE_AUTH", "local").strip().lower() or "local"
        if mode == "none":
            raise AuthSettingsError(
                "PLANCUBE_AUTH=none is gone: every request signs in; use local (the default) "
                "and `plancube user add` for local accounts"
            )
        if mode not in MODES:
            raise AuthSettingsError(
                f"PLANCUBE_AUTH must be one of {', '.join(MODES)}, not {mode!r}"
            )
        algorithms = tuple(_list(env, "PLANCUBE_AUTH_ALGORITHMS")) or DEFAULT_ALGORITHMS
        bad = [a for a in algorithms if a not in ASYMMETRIC]
        if bad:
            raise AuthSettingsError(
                f"PLANCUBE_AUTH_ALGORITHMS: {', '.join(bad)} not allowed; use asymmetric "
                f"algorithms only ({', '.join(sorted(ASYMMETRIC))})"
            )
        ca_file = env.get("PLANCUBE_AUTH_CA_FILE", "").strip() or None
        if ca_file is not None and not os.path.isfile(ca_file):
            raise AuthSettingsError(f"PLANCUBE_AUTH_CA_FILE: no such file {ca_file!r}")
        return cls(
            mode=mode,  # checked against MODES above
            entra=_entra(env) if mode == "entra" else None,
            oidc=_oidc(env) if mode == "oidc" else None,
            web=_web(env) if mode != "local" else None,
            ca_file=ca_file,
            algorithms=algorithms,
            leeway_s=_seconds(env, "PLANCUBE_AUTH_LEEWAY_SECONDS", 60.0, most=600.0),
            jwks_min_refresh_s=_seconds(env, "PLANCUBE_AUTH_JWKS_MIN_REFRESH_SECONDS", 300.0),
            jwks_max_age_s=_seconds(env, "PLANCUBE_AUTH_JWKS_MAX_AGE_SECONDS", 12 * 3600.0),
        )


def _entra(env: Mapping[str, str]) -> EntraSettings:
    tenant = _required(env, "PLANCUBE_ENTRA_TENANT_ID").lower()
    if tenant not in MULTI_TENANT and not _GUID.match(tenant):
        raise AuthSettingsError(
            "PLANCUBE_ENTRA_TENANT_ID must be the directory (tenant) id, a GUID, or "
            f"'organizations' for a multi-tenant API, not {tenant!r}"
        )
    client_id = _required(env, "PLANCUBE_ENTRA_CLIENT_ID").lower()
    allowed = {t.lower() for t in _list(env, "PLANCUBE_ENTRA_ALLOWED_TENANTS")}
    if not allowed:
        if tenant in MULTI_TENANT:
            raise AuthSettingsError(
                f"PLANCUBE_ENTRA_TENANT_ID={tenant} accepts tokens of any tenant: name the "
                "tenants you trust in PLANCUBE_ENTRA_ALLOWED_TENANTS (comma-separated ids)"
            )
        allowed = {tenant}
    if tenant == "common":
        tenant = "organizations"  # personal Microsoft accounts have no tenant to allow
    authority = env.get("PLANCUBE_ENTRA_AUTHORITY", "").strip().rstrip("/") or ENTRA_AUTHORITY
    if not authority.startswith("https://"):
        raise AuthSettingsError(f"PLANCUBE_ENTRA_AUTHORITY must be an https URL, not {authority!r}")
    return EntraSettings(
        tenant_id=tenant,
        client_id=client_id,
        app_id_uri=env.get("PLANCUBE_ENTRA_APP_ID_URI", "").strip() or f"api://{client_id}",
        allowed_tenants=frozenset(allowed),
        scope=env.get("PLANCUBE_ENTRA_SCOPE", "").strip() or "access_as_user",
        app_roles=frozenset(_list(env, "PLANCUBE_ENTRA_APP_ROLES")),
        authority=authority,
    )


def _oidc(env: Mapping[str, str]) -> OidcSettings:
    issuer = _required(env, "PLANCUBE_OIDC_ISSUER")
    if not issuer.startswith("https://"):
        raise AuthSettingsError(f"PLANCUBE_OIDC_ISSUER must be an https URL, not {issuer!r}")
    audiences = frozenset(_list(env, "PLANCUBE_OIDC_AUDIENCE"))
    if not audiences:
        raise AuthSettingsError(
            "PLANCUBE_OIDC_AUDIENCE is required: the audience (aud) your provider puts in "
            "access tokens for this API"
        )
    return OidcSettings(
        issuer=issuer,
        audiences=audiences,
        scope=env.get("PLANCUBE_OIDC_SCOPE", "").strip() or None,
        groups_claim=env.get("PLANCUBE_OIDC_GROUPS_CLAIM", "").strip() or "groups",
        accept_id_tokens=_flag(env, "PLANCUBE_OIDC_ACCEPT_ID_TOKENS"),
    )


def _web(env: Mapping[str, str]) -> WebClientSettings | None:
    client_id = env.get("PLANCUBE_WEB_CLIENT_ID", "").strip()
    secret = env.get("PLANCUBE_WEB_CLIENT_SECRET", "").strip() or None
    redirect = env.get("PLANCUBE_WEB_REDIRECT_URI", "").strip() or None
    if not client_id:
        if secret or redirect:
            raise AuthSettingsError(
                "PLANCUBE_WEB_CLIENT_SECRET and PLANCUBE_WEB_REDIRECT_URI need "
                "PLANCUBE_WEB_CLIENT_ID, the client registration's application (client) id"
            )
        return None
    if redirect is not None:
        loopback = redirect.startswith(("http://localhost", "http://127.0.0.1"))
        if not (redirect.startswith("https://") or loopback):
            raise AuthSettingsError(
                f"PLANCUBE_WEB_REDIRECT_URI must be an https URL (or http://localhost), "
                f"not {redirect!r}"
            )
        if urlsplit(redirect).path != CALLBACK_PATH:
            raise AuthSettingsError(
                f"PLANCUBE_WEB_REDIRECT_URI must end in {CALLBACK_PATH} (the server's "
                f"callback), not {redirect!r}"
            )
    return WebClientSettings(client_id, secret, redirect)


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise AuthSettingsError(f"{name} is required with PLANCUBE_AUTH={env.get('PLANCUBE_AUTH')}")
    return value


def _list(env: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in env.get(name, "").split(",") if part.strip()]


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in {"", "0", "false", "no"}:
        return False
    if value in {"1", "true", "yes"}:
        return True
    raise AuthSettingsError(f"{name} must be 1 or 0, not {value!r}")


def setting_number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    least: float = 0,
    most: float,
    unit: str = "",
) -> float:
    """A number setting in ``[least, most]``; ``unit`` (e.g. "seconds") names what it counts.
    Wrong: one ``AuthSettingsError`` naming the setting."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    kind = f"a number of {unit}" if unit else "a number"
    try:
        value = float(raw)
    except ValueError:
        raise AuthSettingsError(f"{name} must be {kind}, not {raw!r}") from None
    if not least <= value <= most:
        span = f"{least:g} and {most:g}" + (f" {unit}" if unit else "")
        raise AuthSettingsError(f"{name} must be between {span}, not {raw}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, most: float = 7 * 86400) -> float:
    return setting_number(env, name, default, most=most, unit="seconds")
