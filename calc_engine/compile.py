"""AST -> area kernels: each rule becomes one function from a box of cells to an array.

A *box* is one array of element positions per cube axis; the cells of a box are their cross
product. A rule's *area* is the largest box it computes: its target measure element, times the
leaves of every other dimension (narrowed by the rule's ``where``). A kernel evaluates the whole
formula over any box inside the area with numpy, one operation per AST node — never a loop over
cells. Full recalculation evaluates the area; an edit evaluates just the box it can reach.

References a rule may make, and how each reads a box:

=========================  ==============================================================
``Units``, ``M("Unit %")`` the same cell's ``Units`` measure (same coordinates otherwise)
``PREV(x)``, ``NEXT(x)``   ``x`` one leaf period earlier / later on the time dimension
``PERIOD(x, n)``           ``x`` n periods away (n a literal; negative is earlier)
``DB("Cube", "e", ...)``   another cube: dimensions it shares with this one follow the cell's
                           coordinates; each other dimension is fixed by one of the element
                           names given (leaf or consolidated)
``DB("FX", ATTR("D","A"))`` where names differ: the element of ``D`` in the cell names, by its
                           text attribute ``A``, the element to read in a dimension of ``FX``
                           (#N/A where the attribute is unset or names no element)
``ATTR("Dim", "Attr")``    a number attribute of the cell's element of ``Dim``
=========================  ==============================================================

Before the first period (or after the last) a time reference reads an empty cell (0). Every
reference is also recorded as a ``Dependency``, from which ``graph`` orders the rules and
``recalc`` works out which boxes an edit reaches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calc_engine.cube import CubeArray, box_index
from calc_engine.errors import RuleSyntaxError
from calc_engine.functions import (
    FUNCTIONS,
    OPERATORS,
    ErrorCode,
    Val,
    call,
    first_error,
    flag_overflow,
    negate,
    overflow_count,
    percent,
)
from calc_engine.hierarchy import Hierarchy
from calc_engine.parser import Binary, Call, Name, Node, Number, Text, Unary, parse

Box = list[np.ndarray]
Kernel = Callable[[Box], Val]
_TIME_FUNCTIONS = {"PREV": -1, "NEXT": 1}


LEVELS = ("leaf", "consolidated")


@dataclass(frozen=True, slots=True)
class RuleDef:
    """A rule as written: ``target`` is a measure element; ``where`` narrows other dimensions.

    ``level`` is ``leaf`` (the rule computes leaf cells, which consolidate like inputs) or
    ``consolidated`` (it replaces the consolidated cells of its target — where some dimension
    other than the measure is at a total — e.g. a price or margin % that must not be summed).
    """

    name: str
    target: str
    formula: str
    where: dict[str, list[str]] = field(default_factory=dict)
    level: str = "leaf"


@dataclass(frozen=True, slots=True)
class Dependency:
    """The rule reads ``measure`` of ``cube``; ``shift`` periods away (0: same period).

    ``mapped`` pairs (axis in the read cube, axis in the rule's cube) that follow the cell;
    ``fixed`` gives the read cube's other axes a position each.
    """

    cube: str
    measure: int
    shift: int
    mapped: tuple[tuple[int, int], ...]
    fixed: tuple[tuple[int, int], ...]
    cumulative: bool = False  # read through YTD: a change reaches every later period of its year
    # (axis in the read cube, axis in the rule's cube, position there per position here or -1):
    # the read cube's element found through a text attribute of the cell's element (DB + ATTR)
    lookups: tuple[tuple[int, int, np.ndarray], ...] = field(default=(), compare=False)


@dataclass
class CompiledRule:
    rule: RuleDef
    cube: str
    measure_axis: int
    target: int  # position of the target element on the measure axis
    area: Box
    kernel: Kernel
    dependencies: list[Dependency]
    # ``x = PREV(x) + flow``: (kernel of PREV(x), kernel of flow), evaluated as a running sum
    recurrence: tuple[Kernel, Kernel] | None = None
    leaf_masks: list[np.ndarray] = field(default_factory=list)  # per axis: is_leaf per position

    @property
    def consolidated(self) -> bool:
        """Computes consolidated cells (``level: consolidated``), after the totals."""
        return self.rule.level == "consolidated"

    def total_mask(self, box: Box) -> np.ndarray:
        """Bool over ``box``: cells with some coordinate at a consolidated element."""
        out = np.zeros(tuple(len(b) for b in box), dtype=bool)
        for a, (leaf, b) in enumerate(zip(self.leaf_masks, box, strict=True)):
            if a != self.measure_axis:
                shape = [1] * len(box)
                shape[a] = len(b)
                out |= ~leaf[b].reshape(shape)
        return out

    def covers(self, coords: np.ndarray) -> np.ndarray:
        """Bool per row of ``coords`` (n x ndim): a cell this rule computes."""
        inside = np.ones(len(coords), dtype=bool)
        total = np.zeros(len(coords), dtype=bool)
        for a, leaf in enumerate(self.leaf_masks):
            inside &= self.area_mask(a, len(leaf))[coords[:, a]]
            if a != self.measure_axis:
                total |= ~leaf[coords[:, a]]
        return inside & (total if self.consolidated else ~total)

    def area_masks(self) -> list[np.ndarray]:
        """``area_mask`` of every axis (cached)."""
        found: list[np.ndarray] | None = self.__dict__.get("_all_masks")
        if found is None:
            found = [self.area_mask(a, len(leaf)) for a, leaf in enumerate(self.leaf_masks)]
            self.__dict__["_all_masks"] = found
        return found

    def area_mask(self, axis: int, size: int) -> np.ndarray:
        """Bool per element position on ``axis``: inside the rule's area (cached)."""
        masks: dict[int, np.ndarray] = self.__dict__.setdefault("_masks", {})
        if axis not in masks:
            masks[axis] = np.zeros(size, dtype=bool)
            masks[axis][self.area[axis]] = True
        return masks[axis]

    @functools.cached_property
    def recursive(self) -> bool:
        """Reads its own target in earlier periods (like opening = previous closing)."""
        return any(
            d.cube == self.cube and d.measure == self.target and d.shift < 0
            for d in self.dependencies
        )


@dataclass
class CubeInfo:
    """What compiling needs to know of a cube."""

    name: str
    array: CubeArray
    dimensions: list[str]
    measure_axis: int | None
    time_axis: int | None
    # numeric attributes per dimension: attribute -> value per element position (NaN: unset)
    attributes: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


class _Compiler:
    def __init__(self, rule: RuleDef, cube: CubeInfo, cubes: dict[str, CubeInfo]) -> None:
        self.rule, self.cube, self.cubes = rule, cube, cubes
        self.deps: list[Dependency] = []
        if cube.measure_axis is None:
            raise RuleSyntaxError(rule.formula, 0, f"cube {cube.name!r} has no measure dimension")
        self.measure_axis = cube.measure_axis
        self.measures = cube.array.hierarchies[self.measure_axis]
        self.shift = 0  # the time shift of the reference being compiled (nested PREV add up)

    def fail(self, pos: int, message: str) -> RuleSyntaxError:
        return RuleSyntaxError(self.rule.formula, pos, message)

    def node(self, n: Node) -> Kernel:
        if isinstance(n, Number):
            value = Val(np.array(n.value))
            return lambda box: value
        if isinstance(n, Text):
            raise self.fail(n.pos, f"text {n.value!r} can only name an element inside DB()")
        if isinstance(n, Name):
            return self.measure(self.measure_at(n), n.pos)
        if isinstance(n, Unary):
            inner = self.node(n.operand)
            op = percent if n.op == "%" else negate if n.op == "-" else None
            return inner if op is None else (lambda box: op(inner(box)))
        if isinstance(n, Binary):
            return self.chain(n)
        return self.call(n)

    def chain(self, n: Binary) -> Kernel:
        """``a + b - c * d ...``: the left spine of binary operators, compiled and evaluated in
        a loop, so a long flat formula does not recurse once per operator."""
        spine: list[Binary] = []
        node: Node = n
        while isinstance(node, Binary):
            if node.op not in OPERATORS:
                raise self.fail(node.pos, f"operator {node.op!r} is not supported in numeric rules")
            spine.append(node)
            node = node.left
        first = self.node(node)
        steps = [(OPERATORS[b.op], self.node(b.right)) for b in reversed(spine)]
        if len(steps) == 1:
            fn, right = steps[0]
            return lambda box: fn(first(box), right(box))

        def run(box: Box) -> Val:
            value = first(box)
            for fn, right in steps:
                value = fn(value, right(box))
            return value

        return run

    def call(self, n: Call) -> Kernel:
        if n.function == "M":
            return self.measure(self.measure_at(n), n.pos)
        if n.function in _TIME_FUNCTIONS or n.function == "PERIOD":
            return self.time(n)
        if n.function == "DB":
            return self.db(n)
        if n.function == "ATTR":
            return self.attr(n)
        if n.function == "YTD":
            return self.ytd(n)
        fn = FUNCTIONS.get(n.function)
        if fn is None:
            raise self.fail(n.pos, f"unknown function {n.function}")
        if len(n.args) < fn.min_args or (fn.max_args is not None and len(n.args) > fn.max_args):
            most = "any number" if fn.max_args is None else fn.max_args
            raise self.fail(
                n.pos, f"{n.function} takes {fn.min_args} to {most} arguments, got {len(n.args)}"
            )
        args = [self.node(a) for a in n.args]
        name = n.function
        return lambda box: call(name, [a(box) for a in args])

    # -- references --------------------------------------------------------------------------

    def measure_at(self, n: Name | Call) -> int:
        """The measure a ``Name`` or ``M("...")`` reference names."""
        if isinstance(n, Name):
            return self._measure_position(n.name, n.pos, excel_name=True)
        if len(n.args) != 1 or not isinstance(n.args[0], Text):
            raise self.fail(n.pos, 'M() takes one element name in quotes: M("COGS %")')
        return self._measure_position(n.args[0].value, n.pos)

    def _measure_position(self, name: str, pos: int, excel_name: bool = False) -> int:
        h = self.measures
        found = h.index.get(name)
        if found is None and excel_name:
            wanted = name.replace("_", " ").casefold()
            found = next((i for i, e in enumerate(h.names) if e.casefold() == wanted), None)
        if found is None:
            raise self.fail(pos, f"{name!r} is not an element of measure dimension {h.name!r}")
        return found

    def measure(self, m: int, pos: int) -> Kernel:
        cube = self.cube
        axis = self.measure_axis
        follow = tuple((a, a) for a in range(len(cube.dimensions)) if a != axis)
        self.deps.append(Dependency(cube.name, m, self.shift, follow, ((axis, m),)))
        values = cube.array

        only = np.array([m])

        def read(box: Box) -> Val:
            index = list(box)
            index[axis] = only
            at = box_index(index)
            return _with_errors(values, at, values.values[at], _broadcast(index))

        return read

    def time(self, n: Call) -> Kernel:
        axis = self.cube.time_axis
        if axis is None:
            raise self.fail(
                n.pos, f"{n.function}() needs a time dimension in cube {self.cube.name!r}"
            )
        if n.function == "PERIOD":
            if len(n.args) != 2 or not isinstance(n.args[1], Number | Unary):
                raise self.fail(n.pos, "PERIOD(x, n) takes a reference and a whole number")
            k = _literal(n.args[1])
            if k is None or k != int(k):
                raise self.fail(n.pos, "PERIOD(x, n): n must be a whole number literal")
            steps = int(k)
        else:
            if len(n.args) != 1:
                raise self.fail(n.pos, f"{n.function}(x) takes one argument")
            steps = _TIME_FUNCTIONS[n.function]
        self.shift += steps
        inner = self.node(n.args[0])
        self.shift -= steps
        return _shifted(inner, axis, self.cube.array.hierarchies[axis], steps)

    def attr(self, n: Call) -> Kernel:
        """``ATTR("Dimension", "Attribute")``: a number attribute of the cell's element."""
        if len(n.args) != 2 or not all(isinstance(a, Text) for a in n.args):
            raise self.fail(n.pos, 'ATTR("Dimension", "Attribute") takes two names in quotes')
        dim, name = (a.value for a in n.args if isinstance(a, Text))
        if dim not in self.cube.dimensions:
            raise self.fail(n.args[0].pos, f"cube {self.cube.name!r} has no dimension {dim!r}")
        values = self.cube.attributes.get(dim, {}).get(name)
        if values is not None and values.dtype == object:
            raise self.fail(
                n.args[1].pos,
                f"{name!r} is a text attribute: it can name elements inside DB(), not be a number",
            )
        if values is None:
            raise self.fail(n.args[1].pos, f"dimension {dim!r} has no number attribute {name!r}")
        axis, table = self.cube.dimensions.index(dim), np.nan_to_num(values)

        def read(box: Box) -> Val:
            shape = [1] * len(box)
            shape[axis] = len(box[axis])
            return Val(table[box[axis]].reshape(shape))

        return read

    def ytd(self, n: Call) -> Kernel:
        """``YTD(x)``: x summed from the first period of the year up to the cell's period.

        The year of a period is its ancestor right below the time dimension's root (All Years >
        FY2025 > quarters > months), or the root itself when the periods sit right under it
        (FY > months).
        """
        axis = self.cube.time_axis
        if axis is None or len(n.args) != 1:
            raise self.fail(n.pos, "YTD(x) takes one argument and needs a time dimension")
        mark = len(self.deps)
        inner = self.node(n.args[0])
        for i in range(mark, len(self.deps)):
            d = self.deps[i]
            self.deps[i] = Dependency(d.cube, d.measure, d.shift, d.mapped, d.fixed, True)
        time = self.cube.array.hierarchies[axis]
        year = _years(time)
        leaf_rank = time.leaf_rank

        def read(box: Box) -> Val:
            seen = overflow_count()
            ranks = leaf_rank[box[axis]]
            groups = year[ranks]
            first = np.array([np.flatnonzero(year == g)[0] for g in groups], dtype=np.int64)
            span = np.arange(first.min(), ranks.max() + 1) if len(ranks) else np.arange(0)
            wide = list(box)
            wide[axis] = time.leaves[span]
            got = inner(wide)
            v = np.broadcast_to(got.v, tuple(len(b) for b in wide))
            shape = [1] * len(box)
            shape[axis] = len(span)
            period = span.reshape(shape)
            out_v = []
            out_e = []
            for r, f in zip(ranks, first, strict=True):
                take = (period >= f) & (period <= r)
                out_v.append(np.where(take, v, 0.0).sum(axis=axis, keepdims=True))
                if got.e is not None:
                    e = np.broadcast_to(got.e, v.shape)
                    masked = np.where(take, e, 0)  # the first error of the year so far
                    first = np.argmax(masked != 0, axis=axis, keepdims=True)
                    out_e.append(np.take_along_axis(masked, first, axis=axis))
            values = np.concatenate(out_v, axis=axis)
            errors = np.concatenate(out_e, axis=axis).astype(np.int8) if out_e else None
            return flag_overflow(Val(values, errors), seen)

        return read

    def db(self, n: Call) -> Kernel:
        if not n.args or not isinstance(n.args[0], Text):
            raise self.fail(n.pos, 'DB("Cube", "element", ...) names a cube first')
        other = self.cubes.get(n.args[0].value)
        if other is None:
            raise self.fail(n.args[0].pos, f"no cube {n.args[0].value!r}")
        given: dict[int, int] = {}
        lookups: list[tuple[int, int, np.ndarray]] = []
        for arg in n.args[1:]:
            if isinstance(arg, Call) and arg.function == "ATTR":
                lookups.append(self._lookup(other, arg, given, lookups))
                continue
            if not isinstance(arg, Text):
                raise self.fail(
                    arg.pos,
                    'DB() takes element names in quotes or ATTR("Dim", "Attr") after the cube',
                )
            axes = [a for a, h in enumerate(other.array.hierarchies) if arg.value in h.index]
            if len(axes) != 1:
                what = "no" if not axes else "more than one"
                raise self.fail(arg.pos, f"{what} dimension of {other.name!r} has {arg.value!r}")
            given[axes[0]] = other.array.hierarchies[axes[0]].index[arg.value]
        looked_up = {t for t, _, _ in lookups}
        mapped: list[tuple[int, int]] = []
        for t, dim in enumerate(other.dimensions):
            if t in given or t in looked_up:
                continue
            if dim not in self.cube.dimensions or dim == self.cube.dimensions[self.measure_axis]:
                raise self.fail(
                    n.pos,
                    f'DB("{other.name}", ...) needs an element of {dim!r} '
                    f'(or ATTR("Dimension", "Attribute") naming its elements)',
                )
            mapped.append((t, self.cube.dimensions.index(dim)))
        measure = given.get(other.measure_axis, -1) if other.measure_axis is not None else -1
        self.deps.append(
            Dependency(
                other.name,
                measure,
                self.shift,
                tuple(mapped),
                tuple(given.items()),
                lookups=tuple(lookups),
            )
        )
        ndim, source = len(self.cube.dimensions), other.array

        def read(box: Box) -> Val:
            shape = [len(b) for b in box]
            index: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(other.dimensions)
            for t, p in given.items():
                index[t] = np.array(p).reshape((1,) * ndim)
            for t, a in mapped:
                shape_a = [1] * ndim
                shape_a[a] = shape[a]
                index[t] = box[a].reshape(shape_a)
            missing: np.ndarray | None = None
            for t, a, table in lookups:
                shape_a = [1] * ndim
                shape_a[a] = shape[a]
                found = table[box[a]].reshape(shape_a)
                index[t] = np.maximum(found, 0)
                gone = found < 0
                missing = gone if missing is None else missing | gone
            at = tuple(index)
            got = _with_errors(source, at, np.broadcast_to(source.values[at], tuple(shape)), index)
            if missing is None or not missing.any():
                return got
            na = np.where(np.broadcast_to(missing, got.v.shape), np.int8(ErrorCode.NA), np.int8(0))
            return Val(np.where(na != 0, 0.0, got.v), first_error(na, got.e))

        return read

    def _lookup(
        self,
        other: CubeInfo,
        arg: Call,
        given: dict[int, int],
        lookups: list[tuple[int, int, np.ndarray]],
    ) -> tuple[int, int, np.ndarray]:
        """``ATTR("Dim", "Attr")`` inside ``DB()``: each cell's element of ``Dim`` names, by its
        text attribute ``Attr``, an element of a dimension of the other cube.

        That dimension is the one (not otherwise given) holding every name the attribute uses.
        The result maps positions of ``Dim`` to positions there, -1 where the attribute is
        unset or names nothing (the cell reads ``#N/A``, like a failed Excel lookup).
        """
        if len(arg.args) != 2 or not all(isinstance(x, Text) for x in arg.args):
            raise self.fail(arg.pos, 'ATTR("Dimension", "Attribute") takes two names in quotes')
        dim, name = (x.value for x in arg.args if isinstance(x, Text))
        if dim not in self.cube.dimensions or dim == self.cube.dimensions[self.measure_axis]:
            raise self.fail(arg.args[0].pos, f"cube {self.cube.name!r} has no dimension {dim!r}")
        names = self.cube.attributes.get(dim, {}).get(name)
        if names is None or names.dtype != object:
            raise self.fail(arg.args[1].pos, f"dimension {dim!r} has no text attribute {name!r}")
        used = {v for v in names.tolist() if v}
        taken = set(given) | {t for t, _, _ in lookups}
        axes = [
            t
            for t, h in enumerate(other.array.hierarchies)
            if t not in taken and used and used <= h.index.keys()
        ]
        if len(axes) != 1:
            sample = ", ".join(repr(v) for v in sorted(used)[:3]) or "nothing"
            what = "no dimension" if not axes else "more than one dimension"
            raise self.fail(
                arg.pos,
                f"{what} of {other.name!r} holds every element that {dim}'s {name} names "
                f"({sample})",
            )
        h = other.array.hierarchies[axes[0]]
        table = np.array([h.index.get(v, -1) if v else -1 for v in names.tolist()], dtype=np.int64)
        return axes[0], self.cube.dimensions.index(dim), table


def _years(time: Hierarchy) -> np.ndarray:
    """Per leaf period (in leaf order), the position of its year (see ``YTD``)."""
    out = np.empty(len(time.leaves), dtype=np.int64)
    for i, leaf in enumerate(time.leaves):
        node = int(leaf)
        while time.parents[node]:
            parent = time.parents[node][0][0]
            if not time.parents[parent] and node != leaf:
                break  # node sits right below a root: it is the year
            node = parent
        out[i] = node
    return out


def _literal(n: Node) -> float | None:
    if isinstance(n, Number):
        return n.value
    if isinstance(n, Unary) and n.op == "-" and isinstance(n.operand, Number):
        return -n.operand.value
    return None


def _broadcast(box: Sequence[np.ndarray]) -> list[np.ndarray]:
    """One position array per axis, shaped to broadcast against the others (as ``np.ix_``)."""
    n = len(box)
    return [
        np.asarray(b).reshape([-1 if a == i else 1 for i in range(n)]) for a, b in enumerate(box)
    ]


# totals over error leaves looked up one by one in a read; beyond this many, #VALUE! stands in
_MAX_TOTAL_ERRORS = 10_000


def _with_errors(
    cube: CubeArray, at: tuple[Any, ...], v: np.ndarray, positions: Sequence[np.ndarray]
) -> Val:
    """Values read from ``cube`` with the error codes of their cells, so an error read by a rule
    stays the error it is (``#DIV/0!`` in, ``#DIV/0!`` out), as a cell reference does in Excel.

    Codes are kept for leaves; a total over an error leaf reads as NaN without one and gets the
    first error among its leaves (``first_below``), as Excel's SUM over a range does.
    ``positions`` are the cells' coordinates in ``cube``, one array per axis broadcasting to
    ``v``'s shape (only looked at when such totals are read).
    """
    got = _error_codes(cube, at, v, positions)
    if cube.overflow and np.isinf(v).any():  # an overflowed total reads as #NUM!
        num = np.where(np.isinf(v), np.int8(ErrorCode.NUM), np.int8(0))
        return Val(v, first_error(got.e, num))
    return got


def _error_codes(
    cube: CubeArray, at: tuple[Any, ...], v: np.ndarray, positions: Sequence[np.ndarray]
) -> Val:
    codes = cube.errors.codes
    if codes is None or not cube.errors:
        return Val(v)
    e = np.broadcast_to(codes[at], v.shape)
    holes = np.isnan(v) & (e == 0)
    if holes.any():
        e = e.copy()
        axes = [np.broadcast_to(p, v.shape) for p in positions]
        found: dict[tuple[int, ...], int] = {}
        for n, cell in enumerate(map(tuple, np.argwhere(holes))):
            source = tuple(int(a[cell]) for a in axes)
            if source not in found:
                code = None
                if n < _MAX_TOTAL_ERRORS:
                    code = cube.errors.first_below(source, cube.hierarchies)
                found[source] = code or ErrorCode.VALUE
            e[cell] = found[source]
    return Val(v, e) if e.any() else Val(v)


def _shifted(inner: Kernel, axis: int, time: Hierarchy, steps: int) -> Kernel:
    """``inner`` read ``steps`` leaf periods away; outside the calendar it reads empty cells."""
    leaf_rank = time.leaf_rank

    def read(box: Box) -> Val:
        rank = leaf_rank[box[axis]] + steps
        inside = (rank >= 0) & (rank < len(time.leaves))
        moved = list(box)
        if inside.all():
            moved[axis] = time.leaves[rank]
            return inner(moved)
        moved[axis] = time.leaves[np.clip(rank, 0, len(time.leaves) - 1)]
        got = inner(moved)
        shape = [1] * len(box)
        shape[axis] = len(inside)
        keep = inside.reshape(shape)
        v = np.where(keep, got.v, 0.0)
        e = None if got.e is None else np.where(keep, got.e, 0).astype(np.int8)
        return Val(v, e)

    return read


def compile_rule(rule: RuleDef, cube: CubeInfo, cubes: dict[str, CubeInfo]) -> CompiledRule:
    """Parse and compile one rule against its cube (RuleSyntaxError names the position)."""
    try:
        return _compile(rule, cube, cubes)
    except RuleSyntaxError as exc:
        exc.rule = rule.name
        raise


def _compile(rule: RuleDef, cube: CubeInfo, cubes: dict[str, CubeInfo]) -> CompiledRule:
    compiler = _Compiler(rule, cube, cubes)
    tree = parse(rule.formula)
    kernel = compiler.node(tree)
    axis = compiler.measure_axis
    target = compiler._measure_position(rule.target, 0)
    if not compiler.measures.is_leaf[target]:
        raise RuleSyntaxError(rule.formula, 0, f"target {rule.target!r} is not a leaf measure")
    if rule.level not in LEVELS:
        raise RuleSyntaxError(
            rule.formula, 0, f"level {rule.level!r} is not one of {', '.join(LEVELS)}"
        )
    if rule.level == "consolidated" and any(d.shift or d.cumulative for d in compiler.deps):
        raise RuleSyntaxError(
            rule.formula, 0, "PREV, NEXT, PERIOD and YTD read leaf periods: use them in leaf rules"
        )
    hierarchies = cube.array.hierarchies
    for d in compiler.deps:
        back = d.cube == cube.name and d.measure == target and d.shift < 0
        if back and any(a != axis and not hierarchies[a].is_leaf[p] for a, p in d.fixed):
            raise RuleSyntaxError(
                rule.formula,
                0,
                f"reads {rule.target!r} at a total in an earlier period: a rule may read its "
                "own target back in time only at leaves (totals are summed after the rule)",
            )
    area = _area(rule, cube, axis, target)
    compiled = CompiledRule(rule, cube.name, axis, target, area, kernel, compiler.deps)
    compiled.recurrence = _recurrence(tree, rule, cube, cubes, target)
    compiled.leaf_masks = [h.is_leaf for h in cube.array.hierarchies]
    return compiled


def _recurrence(
    tree: Node, rule: RuleDef, cube: CubeInfo, cubes: dict[str, CubeInfo], target: int
) -> tuple[Kernel, Kernel] | None:
    """Recognise ``x = PREV(x) + flow`` (either order; flow not reading x): a running sum.

    Such a rule (closing = opening + flow, year-to-date, headcount) would otherwise be evaluated
    one period at a time; as a recurrence it is one cumulative sum along the time axis.
    """
    if not isinstance(tree, Binary) or tree.op != "+" or cube.time_axis is None:
        return None
    for prev, flow in ((tree.left, tree.right), (tree.right, tree.left)):
        if not (isinstance(prev, Call) and _previous_period(prev)):
            continue
        ref = prev.args[0]
        probe = _Compiler(rule, cube, cubes)
        if not (isinstance(ref, Name) or (isinstance(ref, Call) and ref.function == "M")):
            continue
        if probe.measure_at(ref) != target:
            continue
        flow_kernel = probe.node(flow)
        if any(d.cube == cube.name and d.measure == target for d in probe.deps):
            continue
        return probe.node(prev), flow_kernel
    return None


def _previous_period(n: Call) -> bool:
    if n.function == "PREV":
        return len(n.args) == 1
    return n.function == "PERIOD" and len(n.args) == 2 and _literal(n.args[1]) == -1


def _area(rule: RuleDef, cube: CubeInfo, measure_axis: int, target: int) -> Box:
    """The box a rule computes: leaves (or, for a consolidated rule, every element) of each
    dimension, narrowed by ``where`` to the named elements and what lies below them."""
    others = [d for a, d in enumerate(cube.dimensions) if a != measure_axis]
    for dim in rule.where:
        if dim not in others:
            raise RuleSyntaxError(
                rule.formula, 0, f"where: {dim!r} is not one of the dimensions {others}"
            )
    totals = rule.level == "consolidated"
    area: Box = []
    for a, (dim, h) in enumerate(zip(cube.dimensions, cube.array.hierarchies, strict=True)):
        if a == measure_axis:
            area.append(np.array([target], dtype=np.int64))
            continue
        names: Sequence[str] | None = rule.where.get(dim)
        if not names:
            area.append(np.arange(h.size) if totals else h.leaves.astype(np.int64))
            continue
        chosen: set[int] = set()
        for name in names:
            if name not in h.index:
                raise RuleSyntaxError(rule.formula, 0, f"where: {dim!r} has no element {name!r}")
            top = h.index[name]
            chosen.update(_descendants(h, top) if totals else h.leaf_descendants(top))
        area.append(np.array(sorted(chosen), dtype=np.int64))
    return area


def _descendants(h: Hierarchy, top: int) -> set[int]:
    out, todo = {top}, [top]
    while todo:
        for child, _ in h.children[todo.pop()]:
            if child not in out:
                out.add(child)
                todo.append(child)
    return out
