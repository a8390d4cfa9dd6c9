"""The directory: who is in which group, each group's role per model, and element security —
read from the metadata tables, cached so that resolving a request's context costs no query.

Every request needs three answers (``server.context``): the caller's groups, the caller's role
in the model, and the caller's access masks (``server.access``). Asking the database for them on
each request would cost more than a whole one-cell write, so they are kept here:

- what the tables say is cached per user (groups) and per model (roles, element rules) and
  re-read after ``ttl_s`` seconds — the bound on how long another server process's change takes
  to reach this one (PostgreSQL shared by several processes);
- a change made through this process (the admin API, the CLI in the same process) calls
  ``changed()``, which drops everything at once: here it takes effect on the next request;
- masks are worked out per (model runtime, structure version, groups, role) and kept until the
  structure or the security changes: computing them walks each secured dimension once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import select

from server.access import Access, AccessMasks, ElementRule, masks_for
from server.storage import Store
from server.storage import metadata as md

if TYPE_CHECKING:
    from server.workspace import ModelRuntime

Role = md.Role
RANK = {Role.viewer: 1, Role.planner: 2, Role.modeler: 3, Role.admin: 4}
OPEN = AccessMasks()


class NeedsWork(Exception):
    """Raised inside ``cached_only()`` where an answer would need the database or a mask
    computed: the caller (on the event loop) then asks again in a worker thread."""


_CACHED_ONLY: ContextVar[bool] = ContextVar("plancube_directory_cached_only", default=False)


@contextmanager
def cached_only(on: bool = True) -> Iterator[None]:
    """Answer from the caches only (``NeedsWork`` otherwise): for the event loop, which must not
    wait for the database."""
    token = _CACHED_ONLY.set(on)
    try:
        yield
    finally:
        _CACHED_ONLY.reset(token)


def _work() -> None:
    if _CACHED_ONLY.get():
        raise NeedsWork


def at_least(role: Role | None, needed: Role) -> bool:
    return role is not None and RANK[role] >= RANK[needed]


@dataclass(frozen=True, slots=True)
class ModelSecurity:
    """One model's security as stored: each group's role, and the element rules."""

    roles: dict[str, Role]  # group id -> role
    rules: tuple[ElementRule, ...]  # ``group``: a group id
    cubes: dict[str, dict[str, Access]]  # cube -> group id -> access (secured cubes only)

    def cube_caps(self, groups: Iterable[str]) -> dict[str, Access]:
        """Per secured cube, the most any of the groups may do with it (NONE: not named)."""
        mine = set(groups)
        return {
            cube: max((a for g, a in per.items() if g in mine), default=Access.NONE)
            for cube, per in self.cubes.items()
        }

    def role_of(self, groups: Iterable[str]) -> Role | None:
        best: Role | None = None
        for g in groups:
            r = self.roles.get(g)
            if r is not None and (best is None or RANK[r] > RANK[best]):
                best = r
        return best


class Directory:
    def __init__(
        self, store: Store, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._version = 0
        self._groups: dict[tuple[str, tuple[str, ...]], tuple[float, frozenset[str]]] = {}
        self._models: dict[str, tuple[float, ModelSecurity]] = {}
        self._masks: dict[tuple[object, ...], AccessMasks] = {}

    @property
    def version(self) -> int:
        return self._version

    def changed(self) -> None:
        """Security changed through this process: forget everything cached."""
        with self._lock:
            self._version += 1
            self._groups.clear()
            self._models.clear()
            self._masks.clear()

    # -- groups ------------------------------------------------------------------------------
    def groups_of(self, user_id: str, external: Iterable[str] = ()) -> frozenset[str]:
        """The group ids of a user: local memberships, and groups whose ``external_id`` is one
        of the identity provider's group ids or app roles in the token (``external``)."""
        ext = tuple(sorted(set(external)))
        key = (user_id, ext)
        now = self._clock()
        hit = self._groups.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        _work()
        with self.store.transaction() as tx:
            s = tx.session
            ids = set(
                s.exec(select(md.GroupMember.group_id).where(md.GroupMember.user_id == user_id))
            )
            if ext:
                ids |= set(s.exec(select(md.Group.id).where(md.Group.external_id.in_(ext))))  # type: ignore[union-attr]
        groups = frozenset(ids)
        with self._lock:
            self._groups[key] = (now, groups)
        return groups

    # -- per model ---------------------------------------------------------------------------
    def model(self, model: str) -> ModelSecurity:
        now = self._clock()
        hit = self._models.get(model)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        _work()
        with self.store.transaction() as tx:
            s = tx.session
            roles = {
                r.group_id: Role(r.role)
                for r in s.exec(select(md.ModelRole).where(md.ModelRole.model == model))
            }
            rules = tuple(
                ElementRule(r.dimension, r.element, r.group_id, Access[md.Access(r.access).value])
                for r in s.exec(select(md.ElementRule).where(md.ElementRule.model == model))
            )
            cubes: dict[str, dict[str, Access]] = {}
            for c in s.exec(select(md.CubeAccess).where(md.CubeAccess.model == model)):
                cubes.setdefault(c.cube, {})[c.group_id] = Access[md.Access(c.access).value]
        sec = ModelSecurity(roles, rules, cubes)
        with self._lock:
            old = self._models.get(model)
            if old is not None and old[1] != sec:
                self._masks.clear()  # another process changed the security
            self._models[model] = (now, sec)
        return sec

    def masks(self, rt: ModelRuntime, groups: frozenset[str], role: Role) -> AccessMasks:
        """The access masks of a caller in ``groups`` with ``role`` (below admin) in a model."""
        sec = self.model(rt.name)
        key = (id(rt), rt.structure_version, groups, role)
        hit = self._masks.get(key)
        if hit is not None:
            return hit
        _work()
        cap = Access.READ if role is Role.viewer else Access.WRITE
        dims = {r.dimension for r in sec.rules if r.dimension in rt.dimensions}
        with rt.lock:
            hs = {d: rt.engine.dimension(d) for d in dims}
        masks = masks_for(hs, sec.rules, groups, cap=cap, cubes=sec.cube_caps(groups))
        with self._lock:
            if len(self._masks) > 4096:
                self._masks.clear()
            self._masks[key] = masks
        return masks
