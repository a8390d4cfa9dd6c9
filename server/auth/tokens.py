"""The part of access-token validation every issuer shares: shape, algorithm, signature, time.

A validator (``server.auth.entra``, ``server.auth.oidc``) runs ``verified_claims`` first and then
its issuer's claim rules. The order matters for what a refusal says, never for what is refused:

1. the shape (three base64url parts, at most ``MAX_TOKEN_CHARS``) and the header;
2. the algorithm, from our allow-list — never taken from the token alone: ``alg: none`` and
   ``HS256`` (with the public key as the HMAC secret) are refused before any key is looked at;
3. the key, by ``kid``, from the issuer's published keys (``server.auth.keys``);
4. the signature, and ``exp`` / ``nbf`` / ``iat`` with a small leeway (PyJWT's ``decode``);
5. then the claims: issuer, tenant, token kind, audience, scope (the validator's own rules).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection
from typing import Any, Protocol

import jwt

from server.auth.errors import (
    InvalidToken,
    TokenAlgorithmNotAllowed,
    TokenExpired,
    TokenInvalidSignature,
    TokenMalformed,
    TokenMissingClaim,
    TokenNotYetValid,
)
from server.auth.keys import IssuerKeys
from server.auth.principal import Principal
from server.auth.verified import VerifiedTokens

# Entra access tokens are 1-4 KB, more with many groups (past 200 it sends an overage claim
# instead); anything much larger is not a token we issued, and parsing it is work for nothing
MAX_TOKEN_CHARS = 16_384
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

Claims = dict[str, Any]


class TokenValidator(Protocol):
    keys: IssuerKeys

    async def validate(self, token: str) -> Principal: ...


async def verified_claims(
    token: str, keys: IssuerKeys, algorithms: Collection[str], leeway_s: float
) -> tuple[dict[str, Any], Claims]:
    """The token's header and claims once its signature and lifetime check out."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenMalformed(f"the token is longer than {MAX_TOKEN_CHARS} characters")
    if not _COMPACT.fullmatch(token):
        raise TokenMalformed("the token is not a JWS in compact form (three base64url parts)")
    header = _header(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise TokenAlgorithmNotAllowed(
            f"the token's algorithm {str(alg)[:20]!r} is not allowed (allowed: "
            f"{', '.join(sorted(algorithms))})"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise TokenMalformed("the token's header names no key (kid)")
    key = await keys.key(kid)
    if key.algorithm_name != alg:
        raise TokenAlgorithmNotAllowed(
            f"the token says {alg} but its key {kid!r} is for {key.algorithm_name}"
        )
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            leeway=leeway_s,
            options={
                "require": ["exp", "iat"],
                "verify_aud": False,  # the validator checks audience, issuer and tenant itself
                "verify_iss": False,
            },
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenNotYetValid("the token is not valid yet (nbf or iat in the future)") from None
    except jwt.InvalidSignatureError:
        raise TokenInvalidSignature("the token's signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenMissingClaim(f"the token has no {exc.claim!r} claim", claim=exc.claim) from None
    except jwt.DecodeError:
        raise TokenMalformed(
            "the token's payload or signature is not valid base64url JSON"
        ) from None
    except jwt.InvalidTokenError as exc:  # a claim of the wrong type, say
        raise InvalidToken(f"the token is invalid: {exc}") from None
    except jwt.PyJWTError:
        raise TokenInvalidSignature("the token's signature does not verify with its key") from None
    return header, claims


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read once here (PyJWT's own reading of it decodes the whole token)."""
    segment = token[: token.index(".")]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):
        raise TokenMalformed("the token's header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise TokenMalformed("the token's header is not a JSON object")
    return header


def string_claim(claims: Claims, name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise TokenMissingClaim(f"the token has no {name!r} claim", claim=name)
    return value


def strings(value: Any) -> tuple[str, ...]:
    """A claim that should be a list of strings (groups, roles), whatever the issuer sent."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def audiences(claims: Claims) -> tuple[str, ...]:
    return strings(claims.get("aud"))


class CachedValidator:
    """What every issuer's validator shares: its keys and limits, and the verified tokens it
    remembers (``server.auth.verified``); a subclass checks its issuer's claims in
    ``_validate`` and answers the principal with the token's expiry."""

    def __init__(
        self,
        keys: IssuerKeys,
        algorithms: Collection[str] = ("RS256",),
        leeway_s: float = 60.0,
    ) -> None:
        self.keys = keys
        self.algorithms = tuple(algorithms)
        self.leeway_s = leeway_s
        self.verified = VerifiedTokens()

    async def validate(self, token: str) -> Principal:
        known = self.verified.get(token, self.keys.generation, self.leeway_s)
        if known is not None:
            return known
        principal, exp = await self._validate(token)
        self.verified.put(token, principal, exp, self.keys.generation)
        return principal

    async def _validate(self, token: str) -> tuple[Principal, float]:
        raise NotImplementedError
