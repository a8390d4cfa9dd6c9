"""Relational metadata, declared with sqlmodel: who may sign in, to what, and what they did.

These are the tables identity and access (issue 11) stand on: users, groups and who is in them,
roles per model, element security per dimension and group, personal access tokens, sign-in
sessions and the audit log. They live in the same database as the cells and are changed in the
same transaction when an operation touches both (``Store.transaction``).

Shapes chosen so that both stores hold them alike:

- keys are text (a random UUID's hex): DuckDB has no SERIAL, so an integer key would need an
  explicit sequence on one store and not the other; text keys need nothing;
- times are ISO-8601 UTC text with a trailing ``Z`` (``server.storage.sql.now``), as in every
  other table: they sort as they read, and DuckDB needs no time-zone extension to hand them back;
- JSON (an audit entry's before and after) is text holding JSON, like ``attributes`` elsewhere.

A table is added here *and* in a migration (``server/storage/migrations``): the migration is what
creates it; ``test_migrations`` checks that the two agree.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import String, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.storage.sql import now


def new_id() -> str:
    return uuid.uuid4().hex


class Access(StrEnum):
    """What a group may do with an element's cells (a cell's access is the least over its
    elements)."""

    none = "NONE"
    read = "READ"
    write = "WRITE"


class Role(StrEnum):
    admin = "admin"
    modeler = "modeler"
    planner = "planner"
    viewer = "viewer"


class User(SQLModel, table=True):
    """A person or a service that signs in: by an identity provider (``issuer`` + ``subject``;
    for Entra ID the tenant id and the object id) or locally (``issuer`` "local")."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="users_identity"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    issuer: str
    subject: str
    name: str
    email: str | None = None
    password_hash: str | None = None  # local accounts only (argon2)
    server_admin: bool = False
    disabled: bool = False
    created_at: str = Field(default_factory=now)
    # revision 0003: local sign-in, kept in the database so that every server process on one
    # PostgreSQL counts the same failures (server.auth.passwords)
    display_name: str | None = None
    failed_signins: int = 0  # failures since ``failed_since``, within the window
    failed_since: str | None = None
    locked_until: str | None = None
    last_signin_at: str | None = None


class Group(SQLModel, table=True):
    """A set of users; ``external_id`` maps it to an Entra group id or app role."""

    __tablename__ = "groups"

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str = Field(unique=True)
    external_id: str | None = Field(default=None, unique=True)
    description: str = ""
    created_at: str = Field(default_factory=now)


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_members"

    group_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True, index=True)


class ModelRole(SQLModel, table=True):
    """A group's role in one model."""

    __tablename__ = "model_roles"

    model: str = Field(primary_key=True)
    group_id: str = Field(primary_key=True)
    role: Role = Field(sa_type=String)  # text, not a database enum type: one less migration


class ElementRule(SQLModel, table=True):
    """Element security: a group's access to an element and, unless overridden below it, to the
    elements under it."""

    __tablename__ = "element_rules"

    model: str = Field(primary_key=True)
    dimension: str = Field(primary_key=True)
    element: str = Field(primary_key=True)
    group_id: str = Field(primary_key=True)
    access: Access = Field(sa_type=String)


class CubeAccess(SQLModel, table=True):
    """Cube security: a group's access to a whole cube. A cube with any of these rows is
    secured: a group without one of its own cannot see the cube; each cell's access is capped
    by its cube's."""

    __tablename__ = "cube_access"

    model: str = Field(primary_key=True)
    cube: str = Field(primary_key=True)
    group_id: str = Field(primary_key=True)
    access: Access = Field(sa_type=String)


class AccessToken(SQLModel, table=True):
    """A personal access token: shown once, kept only as a hash."""

    __tablename__ = "access_tokens"

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = Field(index=True)
    name: str
    token_hash: str = Field(unique=True)
    created_at: str = Field(default_factory=now)
    expires_at: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None


class LoginSession(SQLModel, table=True):
    """A signed-in browser: the cookie carries the id, the table says whether it still holds."""

    __tablename__ = "sessions"

    id: str = Field(default_factory=new_id, primary_key=True)  # the cookie's value, hashed
    user_id: str = Field(index=True)
    created_at: str = Field(default_factory=now)
    expires_at: str
    last_seen_at: str | None = None
    revoked_at: str | None = None
    # revision 0004: an identity provider's group ids and app roles at sign-in (JSON list)
    external: str | None = None


class SignInFlow(SQLModel, table=True):
    """An authorization-code flow between its start and the identity provider's callback:
    msal's flow (state, nonce, PKCE verifier) as JSON; the browser holds the key."""

    __tablename__ = "signin_flows"

    id: str = Field(primary_key=True)  # the flow cookie's value, hashed
    flow: str  # JSON
    next: str  # where the browser goes once signed in: a path of this server
    created_at: str = Field(default_factory=now)
    expires_at: str


class AuditEntry(SQLModel, table=True):
    """Who did what to what, when: sign-ins, tokens, security changes (before → after)."""

    __tablename__ = "audit_log"

    id: str = Field(default_factory=new_id, primary_key=True)
    occurred_at: str = Field(default_factory=now, index=True)  # "at" is a DuckDB keyword
    actor: str | None = None  # a user id; None for the server itself
    action: str
    target: str = ""
    before: str | None = None  # JSON
    after: str | None = None  # JSON


class ImportJob(SQLModel, table=True):
    """A background import (``server.jobs``): its state and, once it ends, its report (the
    JSON the synchronous import answers) and the problems as CSV, kept across restarts."""

    __tablename__ = "import_jobs"

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = Field(index=True)  # the owner: only they (and a server admin) see it
    model: str
    cube: str
    file_name: str = ""
    state: str  # queued | running | succeeded | failed | cancelled
    phase: str = ""  # reading | validating | committing | recalculating | done
    rows: int = 0
    message: str = ""  # why it failed or was cancelled
    report: str | None = None  # JSON
    problems: str | None = None  # CSV
    created_at: str = Field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None


class LoadProfile(SQLModel, table=True):
    """A saved import mapping (``server.services.load_profiles``): the ``LoadSpec`` as JSON,
    for one cube of the model, under a name unique in the model."""

    __tablename__ = "load_profiles"

    model: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    cube: str
    spec: str  # JSON: server.imports.spec.LoadSpec
    description: str = ""
    created_by: str
    created_at: str = Field(default_factory=now)
    updated_by: str
    updated_at: str = Field(default_factory=now)


TABLES = [
    User,
    Group,
    GroupMember,
    ModelRole,
    ElementRule,
    CubeAccess,
    AccessToken,
    LoginSession,
    SignInFlow,
    AuditEntry,
    ImportJob,
    LoadProfile,
]
