"""The workspace: the store, one in-memory engine per model, and the locks that order them.

Storage is the source of truth; each model's engine is a replica of it, built at start-up and
kept current by applying every commit after it is durable (DESIGN: write path). Two locks per
model keep that order honest:

- ``write_lock`` is held from the store commit until the engine has applied it, so the engine
  sees commits in commit order;
- ``lock`` guards the engine's arrays: an apply and a read never interleave, so a view never
  shows half a batch.

When the store is shared (PostgreSQL), other processes commit too; ``sync`` replays whatever the
replica has not seen from the commit log before a write, and before a read.

A model that cannot be rebuilt at start-up (its cubes past the size limit, a structure that no
longer validates, an engine failure) is isolated: the other models are served, the broken one is
logged and listed in ``/api/health`` with its reason, and answers ``model_unavailable`` until an
admin deletes it or imports it again with ``replace``.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from calc_engine import CubeArray, Engine, EngineError, Hierarchy
from calc_engine.compile import RuleDef
from server.addressing import decode
from server.directory import Directory
from server.errors import (
    CubeNotFound,
    DimensionNotFound,
    ElementNotFound,
    InvalidValue,
    ModelNotFound,
    ModelUnavailable,
    PlancubeError,
    from_engine,
)
from server.events import Feed
from server.group_commit import CommitQueue
from server.limits import Limits
from server.modeldef import CubeDef, DimensionDef, ElementType, Role, build_hierarchy
from server.names import normalize
from server.storage import CellBatch, CellChange, Store, elements_of

log = logging.getLogger(__name__)


@dataclass
class ModelRuntime:
    """One model as the server holds it: definitions, engine and locks."""

    name: str
    limits: Limits = field(default_factory=Limits.from_env)
    engine: Engine = field(default_factory=Engine)
    dimensions: dict[str, DimensionDef] = field(default_factory=dict)
    cubes: dict[str, CubeDef] = field(default_factory=dict)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    structure_version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    write_lock: threading.RLock = field(default_factory=threading.RLock)
    commits: CommitQueue = field(default_factory=CommitQueue)  # writers waiting to commit
    # (cube, author) -> stored hold addresses, as last read or set here; views flag held cells
    # from it, spreading reads the store (another process may have changed them)
    holds: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    # -- structure lookups -------------------------------------------------------------------
    def dimension(self, name: str) -> DimensionDef:
        try:
            return self.dimensions[name]
        except KeyError:
            raise DimensionNotFound(
                f"model {self.name!r} has no dimension {name!r}", model=self.name, dimension=name
            ) from None

    def cube(self, name: str) -> CubeDef:
        try:
            return self.cubes[name]
        except KeyError:
            raise CubeNotFound(
                f"model {self.name!r} has no cube {name!r}", model=self.name, cube=name
            ) from None

    def hierarchy(self, name: str) -> Hierarchy:
        self.dimension(name)
        return self.engine.dimension(name)

    def position(self, dimension: str, name: str) -> int:
        """An element's position by name or alias (ElementNotFound names both)."""
        h = self.hierarchy(dimension)
        i = h.index.get(name)
        if i is None:
            # the name as it is stored: "Café" typed as C-a-f-e-U+0301, a trailing space
            name = normalize(name)
            i = h.index.get(name)
        if i is None:
            real = self.aliases.get(dimension, {}).get(name)
            if real is None:
                raise ElementNotFound(
                    f"dimension {dimension!r} has no element {name!r}",
                    dimension=dimension,
                    element=name,
                )
            i = h.index[real]
        return i

    def coord(self, cube: str, elements: list[str]) -> tuple[int, ...]:
        """A cell's positions (leaf or consolidated) from its element names in cube order."""
        dims = self.cube(cube).dimensions
        if len(elements) != len(dims):
            raise InvalidValue(
                f"cube {cube!r} has {len(dims)} dimensions {dims}, got {len(elements)} elements",
                elements=elements,
            )
        return tuple(self.position(d, e) for d, e in zip(dims, elements, strict=True))

    def text_mask(self, cube: str) -> tuple[int, np.ndarray] | None:
        """(axis, bool per element) of the cube's text measure elements, or None."""
        for axis, dim_name in enumerate(self.cube(cube).dimensions):
            dim = self.dimensions[dim_name]
            if dim.role is Role.measure:
                mask = np.array([e.type is ElementType.text for e in dim.elements], dtype=bool)
                return (axis, mask) if mask.any() else None
        return None

    # -- costs (before anything is stored or allocated) -----------------------------------------
    def check_cube(self, cube: CubeDef, changed: Hierarchy | None = None) -> None:
        """Refuse (``cube_too_large``) a cube whose arrays would pass the limit.

        ``changed`` is a new version of one of its dimensions, not applied yet.
        """
        sizes = {
            d: (changed if changed is not None and changed.name == d else self.hierarchy(d)).size
            for d in cube.dimensions
        }
        self.limits.check_cube(cube.name, sizes)

    def check_dimension(self, hierarchy: Hierarchy) -> None:
        """Refuse a new version of a dimension that would make a cube over it too large."""
        for cube in self.cubes.values():
            if hierarchy.name in cube.dimensions:
                self.check_cube(cube, hierarchy)

    # -- changes -----------------------------------------------------------------------------
    def set_dimension(self, dim: DimensionDef, hierarchy: Hierarchy) -> None:
        with self.lock:
            self.dimensions[dim.name] = dim
            self.engine.attributes[dim.name] = element_attributes(dim)
            self.engine.set_dimension(hierarchy)
            self.aliases[dim.name] = _aliases(dim)
            self.structure_version += 1

    def add_cube(self, cube: CubeDef, engine: Engine | None = None) -> CubeArray:
        """Add a cube to the engine (or to ``engine``), naming its measure and time dimensions."""
        target = engine or self.engine
        self.limits.check_cube(cube.name, {d: target.dimension(d).size for d in cube.dimensions})
        roles = {self.dimensions[d].role: d for d in cube.dimensions if self.dimensions[d].role}
        with self.lock:
            if engine is None:
                self.cubes[cube.name] = cube
                self.structure_version += 1
            return target.add_cube(
                cube.name,
                cube.dimensions,
                measure=roles.get(Role.measure),
                time=roles.get(Role.time),
            )

    def rule_defs(self, cubes: dict[str, CubeDef] | None = None) -> dict[str, list[RuleDef]]:
        """The engine's view of every cube's rules."""
        return {
            c.name: [RuleDef(r.name, r.target, r.formula, dict(r.where), r.level) for r in c.rules]
            for c in (cubes or self.cubes).values()
            if c.rules
        }

    def load_cells(self, cube: str, table: pa.Table, target: CubeArray | None = None) -> CubeArray:
        """Fill a cube array (the live one unless ``target``) from stored cells, vectorized."""
        array = target or self.engine.cube(cube)
        coords = decode(array.hierarchies, table.column("addr"))
        fits = coords[:, 0] >= 0
        num = table.column("num").to_numpy(zero_copy_only=False).astype(np.float64)
        numeric = fits & ~np.isnan(num)
        texts = table.column("txt").to_pylist()
        with self.lock:
            array.load(coords[numeric], num[numeric])
            array.text = {
                tuple(int(x) for x in coords[i]): texts[i]
                for i in np.flatnonzero(fits & np.isnan(num))
                if texts[i] is not None
            }
        return array

    def apply_batch(self, batch: CellBatch, head: int) -> None:
        """Apply a committed ``CellBatch`` to the engine: its coordinates as the writer resolved
        them (or decoded with Arrow kernels), no object per cell."""
        if batch.cube not in self.engine.cubes:
            return
        array = self.engine.cube(batch.cube)
        coords = batch.coords if batch.coords is not None else decode(array.hierarchies, batch.addr)
        with self.lock:
            self._write(batch.cube, coords, batch.num, batch.txt, unique=True)
            self.engine.head = max(self.engine.head, head)

    def _write(
        self, cube: str, coords: np.ndarray, num: np.ndarray, txt: pa.Array, unique: bool = False
    ) -> None:
        fits = coords[:, 0] >= 0 if len(coords) else np.zeros(0, dtype=bool)
        mask = self.text_mask(cube)
        is_text = mask[1][np.maximum(coords[:, mask[0]], 0)] & fits if mask else None
        # rule cells are computed, never stored inputs (an old commit may hold some)
        fits &= ~self.engine.rules.rule_cells(cube, np.maximum(coords, 0))
        keep = np.flatnonzero(fits)
        values = np.nan_to_num(num[keep], nan=0.0)
        texts: dict[int, str | None] = {}
        if is_text is not None and is_text[keep].any():
            rows = np.flatnonzero(is_text[keep])
            strings = txt.take(pa.array(keep[rows], pa.int64())).to_pylist()
            texts = dict(zip(rows.tolist(), strings, strict=True))
        self.engine.write(cube, coords[keep], values, texts, unique=unique)

    def apply(self, changes: Sequence[CellChange], head: int) -> None:
        """Apply committed changes to the engine (one batch per cube)."""
        by_cube: dict[str, list[CellChange]] = {}
        for c in changes:
            by_cube.setdefault(c.cube, []).append(c)
        with self.lock:
            for cube_name, batch in by_cube.items():
                if cube_name not in self.engine.cubes:
                    continue
                array = self.engine.cube(cube_name)
                coords = _positions(array.hierarchies, [c.addr for c in batch])
                num = np.array(
                    [np.nan if c.num is None else c.num for c in batch], dtype=np.float64
                )
                self._write(cube_name, coords, num, pa.array([c.txt for c in batch], pa.string()))
            self.engine.head = max(self.engine.head, head)


def _positions(hierarchies: Sequence[Hierarchy], addrs: list[str]) -> np.ndarray:
    """Engine positions of addresses: dict lookups for an edit, Arrow kernels for a bulk load."""
    if len(addrs) > 256:
        return decode(hierarchies, pa.array(addrs, pa.string()))
    out = np.full((len(addrs), len(hierarchies)), -1, dtype=np.int64)
    for i, addr in enumerate(addrs):
        parts = elements_of(addr)
        if len(parts) != len(hierarchies):
            continue
        row = [h.index.get(p, -1) for h, p in zip(hierarchies, parts, strict=True)]
        if min(row) >= 0 and all(h.is_leaf[p] for h, p in zip(hierarchies, row, strict=True)):
            out[i] = row
    return out


def element_attributes(dim: DimensionDef) -> dict[str, np.ndarray]:
    """A dimension's attributes as arrays over its elements, for rules.

    Number attributes are float arrays (NaN where unset); text and alias attributes are object
    arrays of strings (None where unset), which ``DB()`` can use to find elements of another
    cube's dimension.
    """
    out = {}
    for attr, kind in dim.attributes.items():
        if kind.value != "number":
            out[attr] = np.array(
                [v if isinstance(v := e.attributes.get(attr), str) else None for e in dim.elements],
                dtype=object,
            )
        else:
            out[attr] = np.array(
                [
                    float(v) if isinstance(v := e.attributes.get(attr), int | float) else np.nan
                    for e in dim.elements
                ],
                dtype=np.float64,
            )
    return out


def _aliases(dim: DimensionDef) -> dict[str, str]:
    alias_attrs = [a for a, kind in dim.attributes.items() if kind.value == "alias"]
    out: dict[str, str] = {}
    for e in dim.elements:
        for a in alias_attrs:
            value = e.attributes.get(a)
            if isinstance(value, str):
                out[value] = e.name
    return out


class Workspace:
    """Every model of one store, each with its engine replica."""

    def __init__(self, store: Store, limits: Limits | None = None) -> None:
        self.store = store
        self.limits = limits or Limits.from_env()
        self.feed = Feed()
        self.directory = Directory(store)  # who may do what: groups, roles, element security
        self._models: dict[str, ModelRuntime] = {}
        # models that failed to load: name -> (the reason, the model row's created_at)
        self._broken: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._as_of: OrderedDict[tuple[str, str, int, int], CubeArray] = OrderedDict()

    def start(self) -> None:
        for row in self.store.list_models():
            self._load(row.name, row.created_at)

    def _load(self, model: str, created_at: str) -> ModelRuntime | None:
        """Build a model, or isolate it: log why and keep it out of service (None)."""
        with self._lock:
            rt = self._models.get(model)
            if rt is not None:
                return rt
            try:
                rt = self.build(model)
            except Exception as exc:  # whatever a stored model holds must not stop the others
                known = from_engine(exc) if isinstance(exc, EngineError) else exc
                if isinstance(known, PlancubeError):
                    reason = f"{known.code}: {known.message}"
                else:
                    reason = f"{type(exc).__name__}: {exc}"
                log.error(
                    "model %r could not be loaded and is unavailable: %s",
                    model,
                    reason,
                    exc_info=not isinstance(known, PlancubeError),  # a bug: keep the traceback
                )
                self._broken[model] = (reason, created_at)
                return None
            self._broken.pop(model, None)
            self._models[model] = rt
            return rt

    def unavailable(self) -> list[dict[str, str]]:
        """The models that failed to load, with the reason (for /api/health)."""
        return [{"name": m, "reason": r} for m, (r, _) in sorted(self._broken.items())]

    def is_unavailable(self, model: str) -> bool:
        return model in self._broken

    def close(self) -> None:
        self.feed.close()
        self.store.close()

    def build(self, model: str) -> ModelRuntime:
        """A runtime from storage: structure, then every cube's cells."""
        rt = ModelRuntime(model, limits=self.limits)
        rt.engine.head = self.store.head(model)
        dims, cubes = self.store.load_structure(model)
        for dim in dims:
            rt.set_dimension(dim, build_hierarchy(dim))
        for cube in cubes:
            rt.add_cube(cube)
            rt.load_cells(cube.name, self.store.load_cells(model, cube.name))
        rt.engine.set_rules(rt.rule_defs())
        return rt

    def model_names(self) -> list[str]:
        return sorted(self._models)

    def runtime(self, model: str) -> ModelRuntime:
        rt = self._models.get(model)
        if rt is None and self.store.shared:
            # another process may have created the model, or repaired or deleted a broken one
            row = self.store.get_model(model)
            broken = self._broken.get(model)
            if row is None:
                self._broken.pop(model, None)
            elif broken is None or broken[1] != row.created_at:
                rt = self._load(model, row.created_at)
        if rt is None and model in self._broken:
            reason = self._broken[model][0]
            raise ModelUnavailable(
                f"model {model!r} could not be loaded: {reason}. Delete it, or import its "
                "model file again with replace",
                model=model,
                reason=reason,
            )
        if rt is None:
            raise ModelNotFound(f"no model {model!r}", model=model)
        return rt

    def add(self, model: str) -> ModelRuntime:
        with self._lock:
            rt = self._models.get(model) or self.build(model)
            self._models[model] = rt
            self._broken.pop(model, None)
            return rt

    def drop(self, model: str) -> None:
        with self._lock:
            self._models.pop(model, None)
            self._broken.pop(model, None)

    def sync(self, rt: ModelRuntime) -> None:
        """Catch the replica up with commits other processes made (shared stores only)."""
        if not self.store.shared or self.store.head(rt.name) <= rt.engine.head:
            return
        with rt.write_lock:
            pending = self.store.changes_since(rt.name, rt.engine.head)
            if pending:
                rt.apply([c for _, c in pending], max(cid for cid, _ in pending))

    def cube_as_of(self, rt: ModelRuntime, cube: str, commit_id: int) -> CubeArray:
        """The cube as it was at a commit, rebuilt from history (a few are cached).

        With rules, every cube is rebuilt (a rule may read another cube) and recalculated.
        """
        key = (rt.name, cube, commit_id, rt.structure_version)
        with self._lock:
            hit = self._as_of.get(key)
            if hit is not None:
                self._as_of.move_to_end(key)
                return hit
        rules = rt.rule_defs()
        engine = Engine()
        engine.dimensions = dict(rt.engine.dimensions)
        engine.attributes = dict(rt.engine.attributes)
        for name in rt.cubes if rules else [cube]:
            array = rt.add_cube(rt.cubes[name], engine=engine)
            rt.load_cells(name, self.store.cells_as_of(rt.name, name, commit_id), target=array)
        engine.set_rules(rules)
        with self._lock:
            self._as_of[key] = engine.cube(cube)
            while len(self._as_of) > 4:
                self._as_of.popitem(last=False)
        return engine.cube(cube)
