"""Administration: groups and who is in them, each group's role per model, element security.

Users themselves are ``server.auth.accounts``. Everything here changes who may see and change
what, so every change is one unit of work with its audit entry (who, what, before → after), and
then tells the directory (``server.directory``) to forget what it cached: the change holds from
the next request on (in another server process within the directory's ``ttl_s``).

Groups are named; ``external_id`` maps one to an Entra ID group id (its object id) or an app
role's value, or any OIDC provider's group claim: a user signed in with a token carrying it is a
member for that request, without being added here.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from server.auth import accounts
from server.auth.users import subject
from server.context import Context
from server.directory import Role
from server.errors import AlreadyExists, NotFound
from server.names import PathName, Reference
from server.storage import metadata as md
from server.wire import Description

_WRITING = threading.Lock()  # this process's security changes, one at a time


class GroupNotFound(NotFound):
    code = "group_not_found"


class GroupCreate(BaseModel):
    name: PathName
    external_id: str | None = Field(
        default=None,
        max_length=256,
        description="an Entra ID group's object id or app role value (or an OIDC group) whose "
        "members belong to this group when they sign in with a token",
    )
    description: Description = ""


class RoleSet(BaseModel):
    role: Role


class CubeGrant(BaseModel):
    group: Reference
    access: md.Access


class ElementGrant(BaseModel):
    element: Reference
    group: Reference
    access: md.Access


def group_json(g: md.Group, members: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": g.name,
        "external_id": g.external_id,
        "description": g.description,
        "created_at": g.created_at,
    }
    if members is not None:
        out["members"] = members
    return out


def _group(s: Session, name: str) -> md.Group:
    g = s.exec(select(md.Group).where(md.Group.name == name)).first()
    if g is None:
        raise GroupNotFound(f"there is no group {name!r}", group=name)
    return g


class UserNotFound(NotFound):
    code = "user_not_found"


def _user(s: Session, ref: str) -> md.User:
    """A user by id, by local account name, or by an external user's name or e-mail."""
    u = s.get(md.User, ref)
    if u is None:
        local = select(md.User).where(
            md.User.issuer == accounts.LOCAL, md.User.subject == subject(ref)
        )
        u = s.exec(local).first()
    if u is None:
        other = select(md.User).where(sa.or_(md.User.name == ref, md.User.email == ref))  # type: ignore[arg-type]
        found = list(s.exec(other))
        u = found[0] if len(found) == 1 else None
    if u is None:
        raise UserNotFound(f"there is no user {ref!r}", user=ref)
    return u


def _done(ctx: Context) -> None:
    ctx.ws.directory.changed()


def list_groups(ctx: Context) -> list[dict[str, Any]]:
    with ctx.ws.store.transaction() as tx:
        s = tx.session
        groups = list(s.exec(select(md.Group).order_by(md.Group.name)))
        names = {u.id: u.name for u in s.exec(select(md.User))}
        members: dict[str, list[str]] = {}
        for m in s.exec(select(md.GroupMember)):
            members.setdefault(m.group_id, []).append(names.get(m.user_id, m.user_id))
        return [group_json(g, sorted(members.get(g.id, []))) for g in groups]


def create_group(ctx: Context, body: GroupCreate) -> dict[str, Any]:
    taken = AlreadyExists(
        f"a group named {body.name!r} or mapped to {body.external_id!r} exists already",
        group=body.name,
    )
    try:
        with _WRITING, ctx.ws.store.transaction() as tx:
            s = tx.session
            if s.exec(select(md.Group).where(md.Group.name == body.name)).first() is not None:
                raise AlreadyExists(f"there is a group {body.name!r} already", group=body.name)
            g = md.Group(name=body.name, external_id=body.external_id, description=body.description)
            s.add(g)
            after = group_json(g)
            accounts.audit(s, ctx.caller.user_id or None, "group.add", body.name, None, after)
    except AlreadyExists:
        raise
    except Exception as exc:
        if not _duplicate(exc):
            raise
        raise taken from None
    _done(ctx)
    return after


def delete_group(ctx: Context, name: str) -> None:
    with _WRITING, ctx.ws.store.transaction() as tx:
        s = tx.session
        g = _group(s, name)
        before = group_json(g)
        for table in (md.GroupMember, md.ModelRole, md.ElementRule, md.CubeAccess):
            s.execute(sa.delete(table).where(table.group_id == g.id))  # type: ignore[arg-type]
        s.delete(g)
        accounts.audit(s, ctx.caller.user_id or None, "group.delete", name, before, None)
    _done(ctx)


def set_member(ctx: Context, group: str, user: str, member: bool) -> None:
    """Add or remove a member; twice at once is the same as once."""
    _twice(lambda: _set_member(ctx, group, user, member))
    _done(ctx)


def _twice(change: Any) -> None:
    """Run an idempotent change, one at a time in this process; if another process made the
    same row meanwhile (a unique key's refusal), run it again: it then finds the row."""
    with _WRITING:
        try:
            change()
        except Exception as exc:
            if not _duplicate(exc):
                raise
            change()


def _duplicate(exc: Exception) -> bool:
    """A unique key's refusal: SQLAlchemy's IntegrityError, or DuckDB's refusal at COMMIT."""
    text = str(exc).lower()
    return isinstance(exc, sa.exc.IntegrityError) or (
        "duplicate key" in text or "unique constraint" in text
    )


def _set_member(ctx: Context, group: str, user: str, member: bool) -> None:
    with ctx.ws.store.transaction() as tx:
        s = tx.session
        g = _group(s, group)
        u = _user(s, user)
        link = s.get(md.GroupMember, (g.id, u.id))
        if (link is not None) == member:
            return
        if member:
            s.add(md.GroupMember(group_id=g.id, user_id=u.id))
        else:
            s.delete(link)
        accounts.audit(
            s,
            ctx.caller.user_id or None,
            "group.member.add" if member else "group.member.remove",
            group,
            None if member else {"user": u.name},
            {"user": u.name} if member else None,
        )


# -- per model -------------------------------------------------------------------------------
def list_roles(ctx: Context) -> list[dict[str, Any]]:
    model = ctx.model_name
    ctx.rt  # noqa: B018 -- the model exists (else 404 model_not_found)
    with ctx.ws.store.transaction() as tx:
        s = tx.session
        names = {g.id: g.name for g in s.exec(select(md.Group))}
        rows = s.exec(select(md.ModelRole).where(md.ModelRole.model == model))
        return sorted(
            ({"group": names.get(r.group_id, r.group_id), "role": str(r.role)} for r in rows),
            key=lambda r: r["group"],
        )


def set_role(ctx: Context, group: str, role: Role | None) -> None:
    """Give ``group`` ``role`` in the model; None takes its role away."""
    ctx.rt  # noqa: B018 -- the model exists
    _twice(lambda: _set_role(ctx, group, role))
    _done(ctx)


def _set_role(ctx: Context, group: str, role: Role | None) -> None:
    model = ctx.model_name
    with ctx.ws.store.transaction() as tx:
        s = tx.session
        g = _group(s, group)
        row = s.get(md.ModelRole, (model, g.id))
        before = None if row is None else {"role": str(row.role)}
        if role is None:
            if row is None:
                return
            s.delete(row)
        elif row is None:
            s.add(md.ModelRole(model=model, group_id=g.id, role=role))
        else:
            row.role = role
            s.add(row)
        after = None if role is None else {"role": role.value}
        accounts.audit(s, ctx.caller.user_id or None, "role.set", f"{model}/{group}", before, after)


def list_element_rules(ctx: Context, dimension: str | None = None) -> list[dict[str, Any]]:
    model = ctx.model_name
    ctx.rt  # noqa: B018 -- the model exists (else 404 model_not_found)
    with ctx.ws.store.transaction() as tx:
        s = tx.session
        names = {g.id: g.name for g in s.exec(select(md.Group))}
        q = select(md.ElementRule).where(md.ElementRule.model == model)
        if dimension is not None:
            ctx.rt.dimension(dimension)  # 404 dimension_not_found
            q = q.where(md.ElementRule.dimension == dimension)
        return [
            {
                "dimension": r.dimension,
                "element": r.element,
                "group": names.get(r.group_id, r.group_id),
                "access": md.Access(r.access).value,
            }
            for r in s.exec(q)
        ]


def replace_element_rules(
    ctx: Context, dimension: str, grants: list[ElementGrant]
) -> list[dict[str, Any]]:
    """Replace every rule of one dimension: the elements (by name or alias) must exist."""
    rt, model = ctx.rt, ctx.model_name
    rt.dimension(dimension)
    h = rt.hierarchy(dimension)
    resolved = [(h.names[rt.position(dimension, g.element)], g) for g in grants]
    seen: set[tuple[str, str]] = set()
    for element, g in resolved:
        if (element, g.group) in seen:
            raise AlreadyExists(
                f"element {element!r} is granted to group {g.group!r} twice",
                element=element,
                group=g.group,
            )
        seen.add((element, g.group))
    before = list_element_rules(ctx, dimension)
    with _WRITING, ctx.ws.store.transaction() as tx:
        s = tx.session
        ids = {name: _group(s, name).id for name in {g.group for _, g in resolved}}
        s.execute(
            sa.delete(md.ElementRule).where(
                md.ElementRule.model == model,  # type: ignore[arg-type]
                md.ElementRule.dimension == dimension,  # type: ignore[arg-type]
            )
        )
        for element, g in resolved:
            s.add(
                md.ElementRule(
                    model=model,
                    dimension=dimension,
                    element=element,
                    group_id=ids[g.group],
                    access=md.Access(g.access),
                )
            )
        after = [
            {"dimension": dimension, "element": e, "group": g.group, "access": g.access.value}
            for e, g in resolved
        ]
        accounts.audit(
            s,
            ctx.caller.user_id or None,
            "security.elements",
            f"{model}/{dimension}",
            before,
            after,
        )
    _done(ctx)
    return after


def list_cube_access(ctx: Context) -> list[dict[str, Any]]:
    model = ctx.model_name
    ctx.rt  # noqa: B018 -- the model exists (else 404 model_not_found)
    with ctx.ws.store.transaction() as tx:
        s = tx.session
        names = {g.id: g.name for g in s.exec(select(md.Group))}
        rows = s.exec(select(md.CubeAccess).where(md.CubeAccess.model == model))
        return [
            {
                "cube": r.cube,
                "group": names.get(r.group_id, r.group_id),
                "access": md.Access(r.access).value,
            }
            for r in rows
        ]


def replace_cube_access(ctx: Context, cube: str, grants: list[CubeGrant]) -> list[dict[str, Any]]:
    """Replace a cube's security: each group's access to the whole cube. A cube with grants
    is secured (a group not named cannot see it); an empty list opens it again."""
    rt, model = ctx.rt, ctx.model_name
    rt.cube(cube)
    groups = [g.group for g in grants]
    if len(set(groups)) != len(groups):
        raise AlreadyExists(f"a group is named twice for cube {cube!r}", cube=cube)
    before = [r for r in list_cube_access(ctx) if r["cube"] == cube]
    with _WRITING, ctx.ws.store.transaction() as tx:
        s = tx.session
        ids = {name: _group(s, name).id for name in groups}
        s.execute(
            sa.delete(md.CubeAccess).where(
                md.CubeAccess.model == model,  # type: ignore[arg-type]
                md.CubeAccess.cube == cube,  # type: ignore[arg-type]
            )
        )
        for g in grants:
            s.add(md.CubeAccess(model=model, cube=cube, group_id=ids[g.group], access=g.access))
        after = [{"cube": cube, "group": g.group, "access": g.access.value} for g in grants]
        accounts.audit(
            s, ctx.caller.user_id or None, "security.cube", f"{model}/{cube}", before, after
        )
    _done(ctx)
    return after
