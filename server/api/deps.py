"""Request dependencies shared by the routers: the workspace and the acting user.

Until sign-in arrives (Entra ID SSO), the acting user is whatever the client names in the
``X-Plancube-User`` header; it is recorded as the author of commits and snapshots.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

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


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
AuthorDep = Annotated[str, Depends(get_author)]
