"""Request dependencies shared by the routers: the workspace, the acting user and session.

Until sign-in arrives (Entra ID SSO), the acting user is whatever the client names in the
``X-Plancube-User`` header; it is recorded as the author of commits and snapshots. A client may
name its session in ``X-Plancube-Session`` (the grid: one per page load): writes with a
``base_commit`` then do not conflict with that session's own earlier commits.

An operation that destroys data (deleting a model, an import with ``replace``, a forced revert)
declares ``DestructiveDep``: the one place its guard lives. Today it records the operation in
the audit log (``server.audit``) once the route calls ``done``; with sign-in it will also refuse
a user who is not an admin of the model. A browser page of another site cannot reach these
routes at all: their bodies must be JSON (``server.api.route``) and the origin the server's own
(``server.origins``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from server import audit
from server.workspace import Workspace


def get_workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def get_author(
    x_plancube_user: Annotated[
        str | None, Header(description="who is acting (recorded as commit author)", max_length=200)
    ] = None,
) -> str:
    return (x_plancube_user or "anonymous").strip() or "anonymous"


def get_session(
    x_plancube_session: Annotated[
        str | None,
        Header(
            description="the client's session, chosen by the client (e.g. a random id per page "
            "load); with `base_commit`, commits of the same session and user are not conflicts. "
            "Without it, every later change of a target cell is a conflict.",
            max_length=200,
        ),
    ] = None,
) -> str | None:
    return (x_plancube_session or "").strip() or None


@dataclass(frozen=True, slots=True)
class Destructive:
    """The guard of an operation that destroys data (see above)."""

    user: str

    def done(self, action: str, **what: Any) -> None:
        audit.record(self.user, action, **what)


def get_destructive(author: Annotated[str, Depends(get_author)]) -> Destructive:
    return Destructive(author)


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
AuthorDep = Annotated[str, Depends(get_author)]
SessionDep = Annotated[str | None, Depends(get_session)]
DestructiveDep = Annotated[Destructive, Depends(get_destructive)]
