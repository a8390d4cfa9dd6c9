"""The guard of operations that destroy data: ``Destructive``.

Deleting a model, importing over one (``replace``) and a forced revert can each wipe a plan's
work. Each route declares its guard (``server.api.guards``: the model's admin, or a server
admin) and takes a ``Destructive`` to record the operation once it is done, in the audit log
(``server.audit``: the ``plancube.audit`` logger and the ``audit_log`` table), naming the
signed-in user. A browser page of another site cannot reach these routes at all: their bodies
must be JSON (``server.api.route``), the origin the server's own (``server.origins``), and a
cookie session's changes carry its CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from server import audit
from server.api.guards import SignedIn
from server.context import Context


@dataclass(frozen=True, slots=True)
class Destructive:
    ctx: Context

    def done(self, action: str, **what: Any) -> None:
        audit.record(self.ctx.author, action, **what)
        audit.store(self.ctx, action, **what)


def get_destructive(ctx: SignedIn) -> Destructive:
    return Destructive(ctx)


DestructiveDep = Annotated[Destructive, Depends(get_destructive)]
