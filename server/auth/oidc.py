"""Access tokens of any OpenID Connect provider (Keycloak, Okta, Auth0, Google…), found by
issuer discovery: nothing Entra-specific is assumed.

After the shared steps (``server.auth.tokens``) the rules are the generic ones of RFC 9068 and
OIDC: ``iss`` is exactly the configured issuer, which the discovery document must name too
(OIDC Discovery §4.3: a document naming another issuer is refused); it is an access token
(``typ: at+jwt``, or at least none of an ID token's marks — ``nonce``, ``at_hash``,
``c_hash``, Keycloak's ``typ: ID``) unless ``PLANCUBE_OIDC_ACCEPT_ID_TOKENS`` is set for a
provider whose access tokens are opaque; ``aud`` names one of the configured audiences; the
configured scope, if any, is in ``scope`` (a space-separated string) or ``scp`` (a list, Okta).
The user is ``iss`` + ``sub``.
"""

from __future__ import annotations

from collections.abc import Collection

from server.auth.errors import (
    KeysUnavailable,
    TokenMissingScope,
    TokenNotAccessToken,
    TokenWrongAudience,
    TokenWrongIssuer,
)
from server.auth.keys import IssuerKeys
from server.auth.principal import Principal
from server.auth.settings import OidcSettings
from server.auth.tokens import (
    CachedValidator,
    Claims,
    audiences,
    string_claim,
    strings,
    verified_claims,
)

ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}


class OidcValidator(CachedValidator):
    def __init__(
        self,
        settings: OidcSettings,
        keys: IssuerKeys,
        algorithms: Collection[str] = ("RS256",),
        leeway_s: float = 60.0,
    ) -> None:
        super().__init__(keys, algorithms, leeway_s)
        self.settings = settings

    async def _validate(self, token: str) -> tuple[Principal, float]:
        s = self.settings
        header, claims = await verified_claims(token, self.keys, self.algorithms, self.leeway_s)
        published = await self.keys.issuer()
        if published != s.issuer:
            raise KeysUnavailable(
                f"the discovery document of {s.issuer} names the issuer {published!r}: "
                "check PLANCUBE_OIDC_ISSUER"
            )
        iss = string_claim(claims, "iss")
        if iss != s.issuer:
            raise TokenWrongIssuer(
                f"the token's issuer {iss[:200]!r} is not {s.issuer!r}", expected=s.issuer
            )
        if not s.accept_id_tokens and _looks_like_id_token(header, claims):
            raise TokenNotAccessToken("this is an ID token, not an access token for this API")
        if not set(audiences(claims)) & s.audiences:
            raise TokenWrongAudience(
                f"the token is not for this API (its audience is not {sorted(s.audiences)})",
                expected=sorted(s.audiences),
            )
        sub = string_claim(claims, "sub")
        scopes = _scopes(claims)
        if s.scope is not None and s.scope not in scopes:
            raise TokenMissingScope(
                f"the token does not grant the scope {s.scope!r}", required=s.scope
            )
        client = claims.get("client_id", claims.get("azp"))
        realm = claims.get("realm_access")
        roles = strings(claims.get("roles")) + (
            strings(realm.get("roles")) if isinstance(realm, dict) else ()
        )
        principal = Principal(
            key=f"oidc:{iss}#{sub}",
            issuer=iss,
            subject=sub,
            kind="app" if client == sub else "delegated",
            client_id=client if isinstance(client, str) else None,
            name=_text(claims.get("name")),
            username=_text(claims.get("preferred_username")),
            email=_text(claims.get("email")),
            groups=strings(claims.get(s.groups_claim)),
            roles=roles,
            scopes=scopes,
        )
        return principal, float(claims["exp"])


def _looks_like_id_token(header: dict[str, object], claims: Claims) -> bool:
    if str(header.get("typ", "")).lower() in ACCESS_TOKEN_TYPES:
        return False
    return claims.get("typ") == "ID" or any(c in claims for c in ("nonce", "at_hash", "c_hash"))


def _scopes(claims: Claims) -> frozenset[str]:
    scope = claims.get("scope", claims.get("scp"))
    if isinstance(scope, str):
        return frozenset(scope.split())
    return frozenset(strings(scope))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
