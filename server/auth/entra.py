"""Entra ID (Azure AD) v2 access tokens, checked as Microsoft.Identity.Web checks them.

After the shared steps (``server.auth.tokens``: algorithm from the allow-list, signature
against the tenant's published keys, ``exp``/``nbf`` with leeway) come Entra's own rules:

- ``ver`` is ``2.0``: the API registration sets ``accessTokenAcceptedVersion: 2``, and v1 tokens
  (issuer ``sts.windows.net``) are refused rather than half-understood;
- ``tid`` is one of the allowed tenants, and ``iss`` is that tenant's v2 issuer: the discovery
  document's issuer, whose multi-tenant form (``/organizations``) is the template
  ``https://login.microsoftonline.com/{tenantid}/v2.0`` filled in with the token's ``tid``
  (Microsoft's ``AadIssuerValidator``);
- it is an access token: ID tokens carry no ``azp`` and may carry a ``nonce`` or hashes;
- ``aud`` is the API's client id or its App ID URI;
- a delegated token (a user through a client app) has ``scp`` containing the API's scope
  (``access_as_user``); an application token has no ``scp`` and must hold one of the accepted
  app ``roles``;
- the user is ``tid`` + ``oid``. ``preferred_username`` and ``email`` are display only.
"""

from __future__ import annotations

from collections.abc import Collection

from server.auth.errors import (
    TokenMissingScope,
    TokenNotAccessToken,
    TokenWrongAudience,
    TokenWrongIssuer,
    TokenWrongTenant,
    TokenWrongVersion,
)
from server.auth.keys import IssuerKeys
from server.auth.principal import Principal, TokenKind
from server.auth.settings import EntraSettings
from server.auth.tokens import CachedValidator, audiences, string_claim, strings, verified_claims

ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")


class EntraValidator(CachedValidator):
    def __init__(
        self,
        settings: EntraSettings,
        keys: IssuerKeys,
        algorithms: Collection[str] = ("RS256",),
        leeway_s: float = 60.0,
    ) -> None:
        super().__init__(keys, algorithms, leeway_s)
        self.settings = settings

    async def _validate(self, token: str) -> tuple[Principal, float]:
        s = self.settings
        _, claims = await verified_claims(token, self.keys, self.algorithms, self.leeway_s)
        if claims.get("ver") != "2.0":
            raise TokenWrongVersion(
                f"the token is an Entra v{str(claims.get('ver'))[:8]} token; this API accepts "
                "v2.0 tokens (set accessTokenAcceptedVersion to 2 in its app manifest)"
            )
        tid = string_claim(claims, "tid").lower()
        if tid not in s.allowed_tenants:
            raise TokenWrongTenant(f"tenant {tid[:64]!r} is not allowed", tenant=tid[:64])
        expected_iss = (await self.keys.issuer()).replace("{tenantid}", tid)
        iss = string_claim(claims, "iss")
        if iss != expected_iss:
            raise TokenWrongIssuer(
                f"the token's issuer {iss[:200]!r} is not {expected_iss!r}", expected=expected_iss
            )
        if "azp" not in claims or any(c in claims for c in ID_TOKEN_CLAIMS):
            raise TokenNotAccessToken(
                "this is an ID token (or another JWT), not an access token for this API; "
                "ask for a token with the API's scope"
            )
        if not set(audiences(claims)) & s.audiences:
            raise TokenWrongAudience(
                f"the token is not for this API (its audience is not {s.client_id!r} "
                f"or {s.app_id_uri!r})",
                expected=sorted(s.audiences),
            )
        oid = string_claim(claims, "oid").lower()
        roles = strings(claims.get("roles"))
        scp = claims.get("scp")
        if isinstance(scp, str):
            scopes = frozenset(scp.split())
            kind: TokenKind = "delegated"
            if s.scope not in scopes:
                raise TokenMissingScope(
                    f"the token does not grant the scope {s.scope!r}", required=s.scope
                )
        else:
            scopes = frozenset()
            kind = "app"
            if not set(roles) & s.app_roles:
                raise TokenMissingScope(
                    "an application token needs one of the app roles "
                    f"{sorted(s.app_roles)} and grants none of them"
                    if s.app_roles
                    else "application tokens are not accepted (no PLANCUBE_ENTRA_APP_ROLES)",
                    required=sorted(s.app_roles),
                )
        names = claims.get("_claim_names")
        principal = Principal(
            key=f"entra:{tid}:{oid}",
            issuer=iss,
            subject=oid,
            kind=kind,
            tenant=tid,
            client_id=claims.get("azp") if isinstance(claims.get("azp"), str) else None,
            name=_text(claims.get("name")),
            username=_text(claims.get("preferred_username")),
            email=_text(claims.get("email")),
            groups=strings(claims.get("groups")),
            groups_overage=bool(claims.get("hasgroups"))
            or (isinstance(names, dict) and "groups" in names),
            roles=roles,
            scopes=scopes,
        )
        return principal, float(claims["exp"])


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
