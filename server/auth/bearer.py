"""The ``Authorization: Bearer`` header, read and validated by one FastAPI dependency.

``bearer_principal`` is what routes will declare (decision 9: it becomes part of the one
request context); it works for HTTP requests and WebSockets alike (``HTTPConnection``). The
validator it uses is the app's, installed once with ``use_token_validator``.

A token in the query string (``?access_token=``, which RFC 6750 allows, or any parameter that
looks like a JWT) is refused, even next to a good header: URLs end up in access logs, proxy
logs, browser history and ``Referer`` headers. Refusals are logged with their code and reason,
never with the token.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI
from starlette.requests import HTTPConnection

from server.auth.errors import InvalidToken, TokenInQuery, TokenMalformed, TokenMissing
from server.auth.principal import Principal
from server.auth.tokens import TokenValidator

log = logging.getLogger("plancube.auth")

_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$")
_QUERY_NAMES = {"access_token", "id_token", "token", "bearer"}


def use_token_validator(app: FastAPI, validator: TokenValidator) -> None:
    app.state.token_validator = validator


def token_in_query(conn: HTTPConnection) -> str | None:
    """The name of a query parameter that holds (or is named like) a token, if any."""
    for name, value in conn.query_params.multi_items():
        if name.lower() in _QUERY_NAMES or _JWT.match(value) or value.startswith("pcp_"):
            return name
    return None


def bearer_token(conn: HTTPConnection) -> str:
    """The token of the request's ``Authorization: Bearer`` header; refused from the URL."""
    name = token_in_query(conn)
    if name is not None:
        raise TokenInQuery(
            "a token in the URL is refused (URLs are logged): send it in the "
            "Authorization header as 'Bearer <token>'",
            parameter=name[:64],
        )
    header = conn.headers.get("authorization")
    if header is None:
        raise TokenMissing("sign-in required: send 'Authorization: Bearer <access token>'")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise TokenMalformed("the Authorization header is not 'Bearer <token>'")
    return token


async def bearer_principal(conn: HTTPConnection) -> Principal:
    """Who the request's bearer token speaks for; 401 ``token_*`` when it speaks for nobody."""
    try:
        token = bearer_token(conn)
        validator: TokenValidator = conn.app.state.token_validator
        return await validator.validate(token)
    except InvalidToken as exc:
        log.info("bearer token refused: %s: %s", exc.code, exc.message)
        raise
