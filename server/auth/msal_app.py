"""msal pointed at the configured identity provider: one place for the server and the CLI.

msal speaks to Entra ID through ``authority=https://login.microsoftonline.com/{tenant}``, and to
any other OpenID Connect provider through ``oidc_authority={issuer}`` (msal ≥ 1.28: it reads
the issuer's discovery document and checks that it names that issuer). For an authority that
is not one of Microsoft's hosts — a national cloud is, a test identity provider is not —
instance discovery is off, so msal never asks login.microsoftonline.com about a host it does
not know.

msal talks HTTP through ``requests``. With a CA file (``PLANCUBE_AUTH_CA_FILE`` on the server,
``--ca-file`` for the CLI), that session trusts it and ignores the environment's
``REQUESTS_CA_BUNDLE`` (which requests would otherwise let win over the session's setting).
"""

from __future__ import annotations

import functools
from typing import Any, Literal
from urllib.parse import urlsplit

import msal
import requests
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

Kind = Literal["entra", "oidc"]
TIMEOUT_S = 10.0


def http_session(ca_file: str | None = None, timeout_s: float = TIMEOUT_S) -> requests.Session:
    session = requests.Session()
    if ca_file:
        session.verify = ca_file
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify
    # requests has no session-wide timeout; msal does the same for the sessions it makes
    session.request = functools.partial(session.request, timeout=timeout_s)  # type: ignore[method-assign]
    return session


def authority_options(kind: Kind, authority: str) -> dict[str, Any]:
    """msal's constructor arguments naming the provider: an Entra authority (with or without
    instance discovery) or an OIDC issuer."""
    if kind == "oidc":
        return {"oidc_authority": authority.rstrip("/")}
    host = (urlsplit(authority).hostname or "").lower()
    return {"authority": authority, "instance_discovery": host in WELL_KNOWN_AUTHORITY_HOSTS}


def application(
    kind: Kind,
    authority: str,
    client_id: str,
    *,
    client_secret: str | None = None,
    http_client: requests.Session | None = None,
    token_cache: msal.TokenCache | None = None,
    http_cache: dict[str, Any] | None = None,
) -> msal.ClientApplication:
    """A confidential client when there is a secret (the server, registered as a web app), a
    public one otherwise (the CLI; a server registered as a public client)."""
    options: dict[str, Any] = {
        **authority_options(kind, authority),
        "http_client": http_client or http_session(),
        "token_cache": token_cache,
        "http_cache": http_cache,
    }
    if client_secret:
        return msal.ConfidentialClientApplication(
            client_id, client_credential=client_secret, **options
        )
    return msal.PublicClientApplication(client_id, **options)
