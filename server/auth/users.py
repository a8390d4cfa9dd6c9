"""Users: local accounts made here, and the users an identity provider signs in.

A user is known by ``issuer`` + ``subject`` (unique together), never by a display name:

- a **local** account has issuer ``LOCAL`` and the subject is its name, NFC-normalized, trimmed
  and case-folded — "Ann", "ann" and " ANN " are one account, shown as first typed (``name``);
- an **Entra ID** user has issuer ``entra:{tenant id}`` and subject the object id (``oid``):
  ``tid`` + ``oid`` stay with the account for its life, where the issuer URL is only the
  tenant's v2 endpoint and ``preferred_username`` can be edited and re-assigned;
- any other **OpenID Connect** user has the token's ``iss`` and ``sub``, which OIDC promises
  are unique and never re-assigned.

``upsert_external_user`` keeps an external user's name, display name and e-mail as the newest
token has them; it never changes a key, and a disabled user stays disabled (the caller refuses
it). Changes to what a user may do — a new account, a password, disabling — are written with
their audit row in one transaction (``server.auth.audit_log``), and disabling a user revokes
its sessions and tokens in that transaction too.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from sqlmodel import Session, col, select

from server.auth import hashing, pats, policy, sessions
from server.auth.audit_log import audit
from server.auth.principal import Principal
from server.errors import InvalidEmail, InvalidUserName, UserExists, UserNotFound
from server.storage import Store
from server.storage.metadata import User, new_id

LOCAL = "local"
MAX_NAME = 100


def normalize(name: str) -> str:
    """A name as shown: NFC, trimmed."""
    return unicodedata.normalize("NFC", name).strip()


def subject(name: str) -> str:
    """A local account's key: its name, case-folded (``normalize`` first)."""
    return unicodedata.normalize("NFC", normalize(name).casefold())


def _check_name(name: str) -> str:
    shown = normalize(name)
    if not shown or len(shown) > MAX_NAME:
        raise InvalidUserName(f"a user name has 1 to {MAX_NAME} characters", name=shown)
    if any(unicodedata.category(c)[0] in "CZ" and c != " " for c in shown):
        raise InvalidUserName(
            "a user name may not contain control characters, tabs or line breaks", name=shown
        )
    return shown


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        raise InvalidEmail(f"{email!r} is not an e-mail address", email=email)
    return email


def add_user(
    store: Store,
    name: str,
    *,
    password: str | None = None,
    email: str | None = None,
    server_admin: bool = False,
    display_name: str | None = None,
    actor: str | None = None,
) -> User:
    """A new local account; without a password it cannot sign in with one until it is set."""
    shown = _check_name(name)
    user = User(
        id=new_id(),
        issuer=LOCAL,
        subject=subject(shown),
        name=shown,
        email=_check_email(email),
        display_name=display_name.strip() if display_name and display_name.strip() else None,
        password_hash=hashing.hash_password(password) if password is not None else None,
        server_admin=server_admin,
        created_at=policy.iso(policy.now()),
    )
    try:
        with policy.writing(store), store.transaction() as tx:
            if _local(tx.session, shown) is not None:
                raise _exists(shown)
            tx.session.add(user)
            after = {
                "name": shown,
                "email": user.email,
                "display_name": user.display_name,
                "server_admin": server_admin,
                "password": password is not None,
            }
            audit(tx.session, actor, "user.add", shown, after=after)
    except sa.exc.IntegrityError:  # another process made it between the look and the insert
        raise _exists(shown) from None
    return user


def _exists(name: str) -> UserExists:
    return UserExists(f"a user named {name!r} already exists", name=name)


def _local(session: Session, name: str) -> User | None:
    return session.exec(
        select(User).where(User.issuer == LOCAL, User.subject == subject(name))
    ).first()


def _local_or_404(session: Session, name: str) -> User:
    user = _local(session, name)
    if user is None:
        raise UserNotFound(f"no local user named {normalize(name)!r}", name=normalize(name))
    return user


def set_password(store: Store, name: str, password: str, *, actor: str | None = None) -> None:
    """A new password for a local account; it signs the account out everywhere and lifts a
    lock-out."""
    new_hash = hashing.hash_password(password)
    with policy.writing(store), store.transaction() as tx:
        user = _local_or_404(tx.session, name)
        user.password_hash = new_hash
        user.failed_signins, user.failed_since, user.locked_until = 0, None, None
        tx.session.add(user)
        revoked = sessions.revoke_all(tx.session, user.id)
        audit(tx.session, actor, "user.password", user.name, after={"sessions_revoked": revoked})


def disable_user(
    store: Store, name: str, *, disabled: bool = True, actor: str | None = None
) -> None:
    """Disable (or enable again) a local account by name; see ``set_disabled``."""
    with store.transaction() as tx:
        user = _local_or_404(tx.session, name)
    set_disabled(store, user.id, disabled=disabled, actor=actor)


def set_disabled(
    store: Store, user_id: str, *, disabled: bool = True, actor: str | None = None
) -> None:
    """Disable any user (local or external) by id, revoking its sessions and tokens; or enable
    it again (revoked tokens stay revoked). No change, no audit row."""
    with policy.writing(store), store.transaction() as tx:
        user = tx.session.get(User, user_id)
        if user is None:
            raise UserNotFound(f"no user with id {user_id!r}", user_id=user_id)
        if user.disabled == disabled:
            return
        user.disabled = disabled
        tx.session.add(user)
        after: dict[str, object] = {"disabled": disabled}
        if disabled:
            after["sessions_revoked"] = sessions.revoke_all(tx.session, user_id)
            after["tokens_revoked"] = pats.revoke_all(tx.session, user_id)
        action = "user.disable" if disabled else "user.enable"
        audit(tx.session, actor, action, user.name, before={"disabled": not disabled}, after=after)


def list_users(store: Store) -> list[User]:
    with store.transaction() as tx:
        rows = list(tx.session.exec(select(User).order_by(col(User.subject), col(User.id))).all())
        tx.session.expunge_all()
    return rows


def get_user(store: Store, user_id: str) -> User | None:
    with store.transaction() as tx:
        user = tx.session.get(User, user_id)
        tx.session.expunge_all()
    return user


def find_local_user(store: Store, name: str) -> User | None:
    with store.transaction() as tx:
        user = _local(tx.session, name)
        tx.session.expunge_all()
    return user


def external_key(principal: Principal) -> tuple[str, str]:
    """``(issuer, subject)`` a token's user is stored under."""
    if principal.key.startswith("entra:"):
        if not principal.tenant:
            raise ValueError("an Entra principal without a tenant id")
        return f"entra:{principal.tenant}", principal.subject
    return principal.issuer, principal.subject


def upsert_external_user(store: Store, principal: Principal) -> User:
    """The user a validated token speaks for, made on its first sign-in; the display fields
    follow the token, the key never changes."""
    issuer, sub = external_key(principal)
    name = normalize(principal.username or principal.name or principal.email or sub)[:MAX_NAME]
    display = principal.name.strip() if principal.name and principal.name.strip() else None
    shown = {"name": name, "display_name": display, "email": principal.email}
    for attempt in range(2):
        try:
            with policy.writing(store), store.transaction() as tx:
                user = tx.session.exec(
                    select(User).where(User.issuer == issuer, User.subject == sub)
                ).first()
                if user is None:
                    user = User(
                        id=new_id(),
                        issuer=issuer,
                        subject=sub,
                        name=name,
                        display_name=display,
                        email=principal.email,
                        created_at=policy.iso(policy.now()),
                    )
                    tx.session.add(user)
                    audit(tx.session, None, "user.add", name, after={"issuer": issuer, **shown})
                elif any(getattr(user, k) != v for k, v in shown.items()):
                    for k, v in shown.items():
                        setattr(user, k, v)
                    tx.session.add(user)
                tx.session.flush()
                tx.session.expunge(user)
            return user
        except sa.exc.IntegrityError:  # its first two requests at once, in two processes
            if attempt:
                raise
    raise AssertionError("unreachable")
