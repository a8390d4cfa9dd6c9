"""The demo's people: an admin, two planners on different departments, and a viewer.

``plancube demo`` makes them (once; an existing user is left as it is) so that the demo shows
what sign-in and element security do: Ann plans Sales & Marketing and reads the rest, Raj plans
Operations and does not see R&D at all, Vera reads everything and changes nothing. Every demo
password is ``DEMO_PASSWORD`` — a demo on a laptop, not a server anyone else can reach.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from server.auth import accounts
from server.context import Context
from server.directory import Role
from server.errors import AlreadyExists
from server.services import admin
from server.storage import metadata as md
from server.workspace import Workspace

DEMO_PASSWORD = "plancube-demo"


@dataclass(frozen=True)
class DemoUser:
    name: str
    what: str
    group: str | None = None
    server_admin: bool = False


USERS = [
    DemoUser("admin", "server admin: everything, users and security included", server_admin=True),
    DemoUser("ann", "planner of Sales & Marketing; reads the rest", "sales-planners"),
    DemoUser("raj", "planner of Operations; does not see R&D", "ops-planners"),
    DemoUser("vera", "viewer: reads every department, changes nothing", "viewers"),
]
GROUPS = {
    "sales-planners": Role.planner,
    "ops-planners": Role.planner,
    "viewers": Role.viewer,
}
# element security on Department: (element, group, access)
GRANTS = [
    ("Total Company", "sales-planners", md.Access.read),
    ("Sales & Marketing", "sales-planners", md.Access.write),
    ("Total Company", "ops-planners", md.Access.read),
    ("Operations", "ops-planners", md.Access.write),
    ("R&D", "ops-planners", md.Access.none),
    ("Total Company", "viewers", md.Access.read),
]


def create(ws: Workspace, model: str = "demo") -> list[DemoUser]:
    """Make the demo users, groups, roles and element security; return the users made now."""
    ctx = Context.system(ws, model, name="demo")
    made = []
    for u in USERS:
        if accounts.find_local_user(ws.store, u.name) is None:
            accounts.add_user(ws.store, u.name, password=DEMO_PASSWORD, server_admin=u.server_admin)
            made.append(u)
    for group, role in GROUPS.items():
        with contextlib.suppress(AlreadyExists):
            admin.create_group(ctx, admin.GroupCreate(name=group, description="demo"))
        admin.set_role(ctx, group, role)
    for u in USERS:
        if u.group is not None:
            admin.set_member(ctx, u.group, u.name, True)
    grants = [admin.ElementGrant(element=e, group=g, access=a) for e, g, a in GRANTS]
    admin.replace_element_rules(ctx, "Department", grants)
    return made


def sign_in_help(url: str) -> str:
    lines = [f"sign in at {url}/ as one of (password {DEMO_PASSWORD!r}):"]
    lines += [f"  {u.name:<6} {u.what}" for u in USERS]
    return "\n".join(lines)
