"""The request context: who is asking, in which model, with what role and which access masks.

One is resolved for every request, HTTP or WebSocket, by one dependency
(``server.api.guards``), and the services take it instead of loose ``(workspace, model,
author)`` arguments (DESIGN decision 9). Everything a service needs to respect the caller's
rights is here:

- ``caller``: the signed-in user (``Caller``), recorded as the author of what they commit;
- ``role``: their role in the model (``server.directory``: viewer < planner < modeler < admin;
  a server admin is an admin of every model);
- ``masks``: element security as access per element position (``server.access``), open for an
  admin; ``position``/``coord`` resolve names the way the services must — an element the caller
  may not see is not found, exactly as if it did not exist, so nothing tells it apart from a
  typo;
- ``session``: the client's own session id (``X-Plancube-Session``), which exempts a grid's own
  earlier commits from its conflict checks.

Code that acts for the server itself (start-up, the CLI loading a model file) uses
``Context.system``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np

from server.access import Access, AccessMasks
from server.directory import OPEN, Role, at_least
from server.errors import CubeNotFound, ElementNotFound, Forbidden

if TYPE_CHECKING:
    from server.workspace import ModelRuntime, Workspace

Via = Literal["session", "token", "bearer", "system"]


@dataclass(frozen=True, slots=True)
class Caller:
    """A signed-in user, as one request sees them."""

    user_id: str
    name: str  # what commits record as their author
    server_admin: bool = False
    groups: frozenset[str] = frozenset()
    via: Via = "system"

    @classmethod
    def system(cls, name: str = "plancube") -> Caller:
        return cls(user_id="", name=name, server_admin=True)


@dataclass
class Context:
    ws: Workspace
    caller: Caller
    model: str | None = None
    session: str | None = None
    _role: Role | None = field(default=None, repr=False)

    @classmethod
    def system(cls, ws: Workspace, model: str | None = None, name: str = "plancube") -> Context:
        return cls(ws, Caller.system(name), model)

    def for_model(self, model: str) -> Context:
        return replace(self, model=model, _role=None)

    @property
    def model_name(self) -> str:
        assert self.model is not None, "a context without a model"
        return self.model

    @property
    def author(self) -> str:
        return self.caller.name

    @cached_property
    def rt(self) -> ModelRuntime:
        return self.ws.runtime(self.model_name)

    @property
    def role(self) -> Role | None:
        """The caller's role in the model; None: no access to it at all."""
        if self.caller.server_admin:
            return Role.admin
        if self._role is None and self.model is not None:
            self._role = self.ws.directory.model(self.model).role_of(self.caller.groups)
        return self._role

    @property
    def rights(self) -> tuple[object, ...]:
        """What decides what the caller sees in the model: equal for two callers who see
        the same (the live feed shares reads between them)."""
        role = self.role
        if role is Role.admin:
            return ("admin",)
        return (role, self.caller.groups, self.ws.directory.version)

    def allows(self, needed: Role) -> bool:
        return at_least(self.role, needed)

    def require(self, needed: Role, what: str) -> None:
        """Refuse (403 ``forbidden``) unless the caller's role is at least ``needed``."""
        if not self.allows(needed):
            raise Forbidden(
                f"{what} needs the {needed.value} role in model {self.model!r}; "
                f"{self.caller.name!r} is {self.role.value if self.role else 'not a member'}",
                model=self.model,
                needed=needed.value,
                role=self.role.value if self.role else None,
            )

    # -- element security --------------------------------------------------------------------
    @property
    def masks(self) -> AccessMasks:
        role = self.role
        if role is None or role is Role.admin:
            return OPEN
        return self.ws.directory.masks(self.rt, self.caller.groups, role)

    @property
    def secured(self) -> bool:
        """Whether any element is closed to the caller (the paths can skip masking if not)."""
        return not self.masks.open

    def check_cube(self, cube: str) -> None:
        """A cube closed to the caller (cube security: NONE) is not found, as if it did not
        exist."""
        if self.masks.cubes and self.masks.ceiling(cube) < Access.READ:
            raise CubeNotFound(
                f"model {self.model!r} has no cube {cube!r}", model=self.model, cube=cube
            )

    def visible(self, dimension: str) -> np.ndarray | None:
        """Per position of ``dimension``: may the caller see the element? None: every one."""
        mask = self.masks.dimensions.get(dimension)
        return None if mask is None else mask >= Access.READ

    def position(self, dimension: str, name: str) -> int:
        """An element's position by name or alias; one the caller may not see is not found."""
        pos = self.rt.position(dimension, name)
        mask = self.masks.dimensions.get(dimension)
        if mask is not None and mask[pos] < Access.READ:
            raise ElementNotFound(
                f"dimension {dimension!r} has no element {name!r}",
                dimension=dimension,
                element=name,
            )
        return pos

    def coord(self, cube: str, elements: list[str]) -> tuple[int, ...]:
        """A cell's positions, each element visible to the caller (see ``position``)."""
        coord = self.rt.coord(cube, elements)
        dims = self.rt.cube(cube).dimensions
        for d, p, name in zip(dims, coord, elements, strict=True):
            mask = self.masks.dimensions.get(d)
            if mask is not None and mask[p] < Access.READ:
                raise ElementNotFound(
                    f"dimension {d!r} has no element {name!r}", dimension=d, element=name
                )
        return coord

    def cell_access(self, cube: str, coords: np.ndarray) -> np.ndarray:
        """Access (``server.access.Access`` values) of each cell, a row of positions each."""
        return self.masks.cells(cube, self.rt.cube(cube).dimensions, coords)
