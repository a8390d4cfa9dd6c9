"""Local accounts, sessions and personal access tokens: the service the sign-in routes call.

Sign-in by an identity provider (the rest of ``server.auth``) suits an organisation that has one;
a small team, a test server or a first setup needs accounts of the server's own. This is that
layer, with no HTTP in it: the ``/api/auth/*`` routes and the request context call these
functions, and ``plancube user`` / ``plancube token`` on the command line do too.

One concept per module, gathered here as the one interface to import:

- ``users``     — accounts: local ones (a name, an argon2id password) and the users an identity
  provider signs in (``upsert_external_user``), disabling, listing;
- ``hashing``   — the password hash and the password rule (at least 10 characters);
- ``passwords`` — ``verify_password``: the rate limit per client, the lock-out per account,
  one answer for every failure;
- ``sessions``  — browser sessions (a cookie known to the database by its SHA-256) and their
  CSRF token;
- ``pats``      — personal access tokens (``pcp_…``), shown once, stored as a SHA-256, always
  expiring;
- ``lookup``    — the one query behind each signed-in request (a session or token and its user);
- ``audit_log`` — the ``audit_log`` rows every change and sign-in writes, in its transaction;
- ``policy``    — the limits, from the environment (docs/accounts.md), and the clock.

Every write is one ``store.transaction()`` holding the change and its audit row. ``actor`` is the
id of the user doing it, ``None`` for the server itself or the command line. Errors are the
server's (``server.errors``): ``sign_in_failed`` 401, ``account_locked`` and
``sign_in_rate_limited`` 429 with ``Retry-After``, ``user_exists`` 409, ``user_not_found`` 404,
``user_disabled`` 403, ``token_not_found`` 404, ``token_name_taken`` 409, ``weak_password``,
``invalid_user_name``, ``invalid_email``, ``invalid_token_expiry`` 422.
"""

from __future__ import annotations

from server.auth.audit_log import ACTIONS, audit, audit_entries
from server.auth.passwords import SIGNIN_LIMITER, RateLimiter, verify_password
from server.auth.pats import create_token, list_tokens, resolve_token, revoke_token
from server.auth.policy import AccountPolicy
from server.auth.sessions import (
    check_csrf,
    create_session,
    csrf_token,
    resolve_session,
    revoke_session,
    revoke_sessions,
    session_external,
)
from server.auth.users import (
    LOCAL,
    add_user,
    disable_user,
    find_local_user,
    get_user,
    list_users,
    set_disabled,
    set_password,
    upsert_external_user,
)
from server.errors import (
    AccountLocked,
    InvalidEmail,
    InvalidTokenExpiry,
    InvalidUserName,
    SignInFailed,
    SignInRateLimited,
    TokenNameTaken,
    TokenNotFound,
    UserDisabled,
    UserExists,
    UserNotFound,
    WeakPassword,
)
from server.storage.metadata import AccessToken, AuditEntry, LoginSession, User

__all__ = [
    "ACTIONS",
    "LOCAL",
    "SIGNIN_LIMITER",
    "AccessToken",
    "AccountLocked",
    "AccountPolicy",
    "AuditEntry",
    "InvalidEmail",
    "InvalidTokenExpiry",
    "InvalidUserName",
    "LoginSession",
    "RateLimiter",
    "SignInFailed",
    "SignInRateLimited",
    "TokenNameTaken",
    "TokenNotFound",
    "User",
    "UserDisabled",
    "UserExists",
    "UserNotFound",
    "WeakPassword",
    "add_user",
    "audit",
    "audit_entries",
    "check_csrf",
    "create_session",
    "create_token",
    "csrf_token",
    "disable_user",
    "find_local_user",
    "get_user",
    "list_tokens",
    "list_users",
    "resolve_session",
    "resolve_token",
    "revoke_session",
    "revoke_sessions",
    "revoke_token",
    "session_external",
    "set_disabled",
    "set_password",
    "upsert_external_user",
    "verify_password",
]
