"""Why a bearer token was refused: one exception type to catch, a stable code per reason.

Every refusal is an ``InvalidToken`` (401) in the server's one error shape, answered with
``WWW-Authenticate: Bearer error="invalid_token"`` as RFC 6750 asks; a request that carries no
token at all gets ``Bearer`` without an error, as the RFC asks too. Each reason is a subclass
with its ``code`` on the class, like every other server error (``server.errors``), so a client,
a test and an alert can match on the code and never on the message.

The messages say what was wrong (the claim, the expected value) and never contain the token:
a token in a log line or an error body is a token handed to whoever reads it.

The web sign-in's refusals (``server.api.oidc_login``) are here too: ``sign_in_state_invalid``,
``sign_in_provider_error``, ``sign_in_next_invalid`` (400), ``web_sign_in_unavailable`` (404),
``identity_provider_unavailable`` (503).
"""

from __future__ import annotations

from server.errors import PlancubeError


class InvalidToken(PlancubeError):
    status = 401
    code = "token_invalid"

    def headers(self) -> dict[str, str]:
        # the description is ours (never token text); quotes and backslashes kept out of it
        description = self.message.replace("\\", "/").replace('"', "'")
        return {
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        }


class TokenMissing(InvalidToken):
    """No ``Authorization: Bearer`` header: not an invalid token, so no error attribute."""

    code = "token_missing"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="plancube"'}


class TokenMalformed(InvalidToken):
    code = "token_malformed"


class TokenInQuery(InvalidToken):
    """Tokens in URLs land in access logs, proxies and browser history, so they are refused."""

    code = "token_in_query"


class TokenInvalidSignature(InvalidToken):
    code = "token_invalid_signature"


class TokenUnknownKey(InvalidToken):
    """The token names a key (``kid``) the issuer does not publish, even after a fresh look."""

    code = "token_unknown_key"


class TokenAlgorithmNotAllowed(InvalidToken):
    code = "token_algorithm_not_allowed"


class TokenExpired(InvalidToken):
    code = "token_expired"


class TokenNotYetValid(InvalidToken):
    code = "token_not_yet_valid"


class TokenWrongAudience(InvalidToken):
    code = "token_wrong_audience"


class TokenWrongIssuer(InvalidToken):
    code = "token_wrong_issuer"


class TokenWrongTenant(InvalidToken):
    code = "token_wrong_tenant"


class TokenWrongVersion(InvalidToken):
    code = "token_wrong_version"


class TokenMissingScope(InvalidToken):
    """Neither the API scope (delegated) nor an accepted app role (application) is granted."""

    code = "token_missing_scope"


class TokenNotAccessToken(InvalidToken):
    """An ID token (or another JWT) sent where an access token for this API belongs."""

    code = "token_not_access_token"


class TokenMissingClaim(InvalidToken):
    code = "token_missing_claim"


class KeysUnavailable(PlancubeError):
    """The issuer's metadata or keys cannot be fetched and none are cached: not the token's
    fault, so 503 and a retry, not 401."""

    status = 503
    code = "auth_keys_unavailable"
    retry_after = 5

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class WebSignInUnavailable(PlancubeError):
    """Web sign-in through the identity provider is not set up (no ``PLANCUBE_WEB_CLIENT_ID``,
    or local accounts only)."""

    status = 404
    code = "web_sign_in_unavailable"


class SignInStateInvalid(PlancubeError):
    """An identity provider's answer that is not for a sign-in this browser began: no flow
    cookie, an expired or already finished flow, or a ``state`` that is not the flow's."""

    status = 400
    code = "sign_in_state_invalid"


class SignInProviderError(PlancubeError):
    """The identity provider refused the sign-in (the user cancelled, consent is missing, the
    code does not match the PKCE verifier…); ``details.error`` is its OAuth error code."""

    status = 400
    code = "sign_in_provider_error"


class SignInNextInvalid(PlancubeError):
    """``next`` is not a path of this server: sign-in never sends a browser elsewhere."""

    status = 400
    code = "sign_in_next_invalid"


class ProviderUnavailable(PlancubeError):
    """The identity provider cannot be reached: try again shortly."""

    status = 503
    code = "identity_provider_unavailable"
    retry_after = 5

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
