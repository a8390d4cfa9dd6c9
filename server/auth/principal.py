"""Who a validated token speaks for.

A ``Principal`` is what token validation hands the rest of the server: the stable ``key`` a
user is stored under, and the claims a later authorization step maps to groups and roles. The
key is never a name or an e-mail address: those change and can be re-assigned (Entra's
``preferred_username`` is even editable by the user in some tenants). For Entra ID it is the
tenant and the object id (``tid`` + ``oid``), which stay with the account for its life; for
any other OpenID Connect provider it is the issuer and the subject (``iss`` + ``sub``), which
the OIDC specification guarantees to be unique and never re-assigned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TokenKind = Literal["delegated", "app"]


@dataclass(frozen=True, slots=True)
class Principal:
    key: str  # "entra:{tid}:{oid}" or "oidc:{iss}#{sub}": what users are stored under
    issuer: str
    subject: str  # Entra: the object id (oid); OIDC: sub
    kind: TokenKind  # delegated: a user through a client app; app: the client app itself
    tenant: str | None = None  # Entra tenant id (tid)
    client_id: str | None = None  # the client application (azp / appid)
    name: str | None = None  # display only
    username: str | None = None  # preferred_username: display only, never a key
    email: str | None = None
    groups: tuple[str, ...] = ()
    groups_overage: bool = False  # Entra left groups out (too many): ask Microsoft Graph
    roles: tuple[str, ...] = ()  # app roles, of the user (delegated) or of the client (app)
    scopes: frozenset[str] = field(default_factory=frozenset)
