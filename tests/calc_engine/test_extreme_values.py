"""Property tests of the numeric policy (``calc_engine.cube``) over extreme values.

1. Consolidation: random DAG hierarchies, random write sequences (one cell, small batches on
   the delta path, large batches on the recompute path) of values drawn from the extremes —
   0, tiny fractions, the input limit 1e15, 1e300, 1.7e308 and the largest floats, and NaN for a
   formula error. After every write each cell is checked against the exact sum (fractions):
   - a leaf holds exactly what was written;
   - a total is NaN exactly where an error leaf lies below it, never from an overflow;
   - a total is ±inf only where a partial sum on the way to it (absolute values, one axis at a
     time, as the engine sums) passes the float range;
   - a finite total is within the floating-point bound of the exact sum: the rounding of every
     delta that passed through it (its magnitude before plus what the write added, per write),
     plus that of one fresh summation;
   - a full recompute of the same leaves obeys the same, so incremental equals full recompute
     within those bounds, and the two agree exactly on where errors are.
2. Rules: a small model whose rules overflow (a product, a running sum, IFERROR around an
   overflow, a rule reading an overflowing total) gives after any write sequence the same values
   and the same error codes (``#NUM!`` where a result passes the float range) as a fresh engine
   built from the same inputs; no rule cell is NaN without an error code or ±inf.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any
from unittest.mock import patch

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from calc_engine import CubeArray, Edge, Engine, Hierarchy
from calc_engine import cube as cube_module
from calc_engine.compile import RuleDef
from calc_engine.functions import ErrorCode

EPS = float(np.finfo(np.float64).eps)
FLOAT_MAX = float(np.finfo(np.float64).max)
TINY = Fraction(2) ** -1060  # rounding below the normal range is absolute, not relative

EXTREME = st.one_of(
    st.sampled_from(
        [0.0, 1.0, -1.0, 0.3, 100.3, 1e15, -1e15, 1e300, -1e300, 1.7e308, -1.7e308, 8.99e307]
    ),
    st.sampled_from([FLOAT_MAX, -FLOAT_MAX, math.nan]),
    st.floats(-1e15, 1e15, allow_nan=False),
    st.floats(allow_nan=False, allow_infinity=False),
)


@st.composite
def hierarchies(draw: st.DrawFn, name: str) -> Hierarchy:
    """A random DAG: leaves first, then consolidations over earlier elements (no cycles); the
    weights are dyadic, so the rollup matrix is exact and so is the reference built from it."""
    n_leaves = draw(st.integers(1, 5))
    n_cons = draw(st.integers(1, 3))
    names = [f"{name}{i}" for i in range(n_leaves + n_cons)]
    edges = []
    for c in range(n_leaves, n_leaves + n_cons):
        kids = draw(st.lists(st.integers(0, c - 1), min_size=1, max_size=3, unique=True))
        for k in kids:
            edges.append(Edge(names[c], names[k], draw(st.sampled_from([1.0, -1.0, 0.5, 2.0]))))
    return Hierarchy(name, names, edges)


Cell = tuple[int, ...]


def weight(rollups: list[np.ndarray], cell: Cell, leaf: Cell) -> Fraction:
    """The exact weight with which ``cell`` counts ``leaf`` (a leaf index per axis)."""
    w = Fraction(1)
    for axis, rollup in enumerate(rollups):
        w *= Fraction(float(rollup[cell[axis], leaf[axis]]))
    return w


def exact_sums(
    leaf: np.ndarray, rollups: list[np.ndarray]
) -> dict[Cell, tuple[Fraction | None, Fraction]]:
    """Per cell: the exact weighted sum (None where an error leaf is below it) and the exact
    absolute weighted sum."""
    out: dict[Cell, tuple[Fraction | None, Fraction]] = {}
    for cell in np.ndindex(*(len(r) for r in rollups)):
        total, scale, error = Fraction(0), Fraction(0), False
        for lc in np.ndindex(*leaf.shape):
            w = weight(rollups, cell, lc)
            if w == 0:
                continue
            x = float(leaf[lc])
            if math.isnan(x):
                error = True
                continue
            total += w * Fraction(x)
            scale += abs(w * Fraction(x))
        out[cell] = (None if error else total, scale)
    return out


def show(x: Fraction) -> str:
    return repr(float(x)) if abs(x) <= Fraction(FLOAT_MAX) else f"{float(x / 10**300)!r}e300"


def reach(leaf: np.ndarray, rollups: list[np.ndarray]) -> dict[Cell, Fraction]:
    """Per cell: the largest absolute partial sum on the way to it, summing one axis at a time
    (as every sum in the engine does) — what may overflow even where the total would not."""
    exact = np.vectorize(lambda x: Fraction(abs(float(x))), otypes=[object])
    stages = [exact(np.nan_to_num(leaf))]
    for axis, w in enumerate(rollups):
        moved = np.moveaxis(stages[-1], axis, 0)
        stages.append(np.moveaxis(np.tensordot(exact(w), moved, axes=1), 0, axis))
    out: dict[Cell, Fraction] = {}
    for cell in np.ndindex(*(len(r) for r in rollups)):
        used = [np.flatnonzero(r[c]) for r, c in zip(rollups, cell, strict=True)]
        out[cell] = max(
            max(
                stage[np.ix_(*([np.array([c]) for c in cell[:k]] + used[k:]))].ravel(),
                default=Fraction(0),
            )
            for k, stage in enumerate(stages)
        )
    return out


def check(cube: CubeArray, what: str, leaf: np.ndarray, drift: dict[Cell, Fraction]) -> None:
    """Every cell of ``cube`` against the exact sums of ``leaf`` (see the module docstring);
    ``drift`` bounds, per cell, the magnitudes the deltas of the writes so far passed through."""
    rollups = [h.rollup.toarray() for h in cube.hierarchies]
    positions = np.ix_(*(h.leaves for h in cube.hierarchies))
    written = cube.values[positions]
    same = (written == leaf) | (np.isnan(written) & np.isnan(leaf))
    assert same.all(), f"after {what}: leaves {written.tolist()} were written {leaf.tolist()}"
    reached = reach(leaf, rollups)
    for cell, (want, scale) in exact_sums(leaf, rollups).items():
        got = float(cube.values[cell])
        where = f"after {what}: cell {cell} holds {got!r}"
        if want is None:
            assert math.isnan(got), f"{where}; an error leaf is below it"
            continue
        assert not math.isnan(got), f"{where}; no error leaf is below it (exact {show(want)})"
        if math.isinf(got):
            assert reached[cell] >= Fraction(FLOAT_MAX) * Fraction(1 - 1e-12), (
                f"{where}; {show(want)}"
            )
            continue
        bound = 2 * Fraction(EPS) * (drift.get(cell, Fraction(0)) + leaf.size * scale) + TINY
        assert abs(Fraction(got) - want) <= bound, f"{where}; exact {show(want)}"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_consolidation_over_extreme_values_follows_its_leaves(data: st.DataObject) -> None:
    hs = [data.draw(hierarchies(n), label=n) for n in ("a", "b")[: data.draw(st.integers(1, 2))]]
    hs.append(Hierarchy("m", ["x"]))  # a flat axis, as a measure list would be
    cube = CubeArray("c", hs)
    rollups = [h.rollup.toarray() for h in hs]
    note(f"rollups (elements x leaves): {[r.tolist() for r in rollups]}")
    leaf_shape = tuple(len(h.leaves) for h in hs)
    leaf = np.zeros(leaf_shape)
    drift: dict[Cell, Fraction] = {}
    cells = list(np.ndindex(*leaf_shape))
    with patch.object(cube_module, "_RECOMPUTE_SHARE", 0.2):  # small batches take the deltas
        for step in range(data.draw(st.integers(1, 10), label="writes")):
            kind = data.draw(st.sampled_from(["one", "few", "many"]))
            k = {"one": 1, "few": min(3, len(cells)), "many": len(cells)}[kind]
            picks = data.draw(st.lists(st.sampled_from(cells), min_size=1, max_size=k, unique=True))
            values = [data.draw(EXTREME) for _ in picks]
            note(f"write {step}: {dict(zip(picks, values, strict=True))}")
            olds = [float(leaf[lc]) for lc in picks]
            with np.errstate(over="ignore", invalid="ignore"):
                deltas = [v - o for v, o in zip(values, olds, strict=True)]
            recomputes = (len(picks) > 1 and len(picks) > 0.2 * leaf.size) or not all(
                math.isfinite(d) for d in deltas
            )
            before = cube.values.copy()
            coords = [[int(h.leaves[i]) for h, i in zip(hs, lc, strict=True)] for lc in picks]
            cube.write(np.array(coords), np.array(values))
            for lc, v in zip(picks, values, strict=True):
                leaf[lc] = v
            if recomputes:  # every total summed afresh
                drift.clear()
            else:  # what each total passed through: its magnitude before, plus what came in
                for cell in np.ndindex(*cube.values.shape):
                    came = sum(
                        (
                            abs(weight(rollups, cell, lc)) * (abs(Fraction(v)) + abs(Fraction(o)))
                            for lc, v, o in zip(picks, values, olds, strict=True)
                        ),
                        Fraction(0),
                    )
                    if came == 0:
                        continue
                    b = float(before[cell])
                    if not math.isfinite(b):  # was inf (re-summed now) or an error below
                        drift.pop(cell, None)
                    else:
                        past = drift.get(cell, Fraction(0))
                        drift[cell] = past + (len(picks) + 1) * (abs(Fraction(b)) + came)
            check(cube, f"write {step} ({kind})", leaf, drift)
    fresh = CubeArray("c", hs)
    positions = np.argwhere(np.ones(leaf_shape, dtype=bool))
    fresh.load(
        np.stack([h.leaves[positions[:, a]] for a, h in enumerate(hs)], axis=1),
        leaf[tuple(positions.T)],
    )
    check(fresh, "a full recompute", leaf, {})
    assert np.array_equal(np.isnan(fresh.values), np.isnan(cube.values))


# -- 2. rules that overflow --------------------------------------------------------------------

MEASURES = ["In", "Scale", "Big", "Caught", "Run", "Share"]
RULES = [
    RuleDef("big", "Big", "=In * Scale"),
    RuleDef("caught", "Caught", "=IFERROR(Big * 1e10, -1)"),
    RuleDef("run", "Run", "=PREV(Run) + Big"),
    RuleDef("share", "Share", '=DB("C", "All", "Big") * 2'),
]
RULE_INPUT = st.one_of(
    st.sampled_from([0.0, 1.0, -2.0, 1e15, -1e15, 1e150, 1e200, 1e300, 1.7e308]),
    st.floats(-1e15, 1e15, allow_nan=False),
)


def rule_engine(inputs: dict[tuple[int, int, int], float]) -> Engine:
    e = Engine()
    e.set_dimension(Hierarchy("P", ["All", "p", "q"], [Edge("All", "p"), Edge("All", "q")]))
    e.set_dimension(
        Hierarchy("T", ["Y", "t1", "t2", "t3"], [Edge("Y", t) for t in ["t1", "t2", "t3"]])
    )
    e.set_dimension(Hierarchy("M", MEASURES))
    e.add_cube("C", ["P", "T", "M"], measure="M", time="T")
    if inputs:
        e.cube("C").load(np.array(list(inputs)), np.array(list(inputs.values())))
    e.set_rules({"C": RULES})
    return e


def rule_cells(e: Engine) -> dict[tuple[int, ...], Any]:
    cube = e.cube("C")
    out: dict[tuple[int, ...], Any] = {}
    for cell in np.ndindex(*cube.values.shape):
        if cell[2] < 2:
            continue
        v = float(cube.values[cell])
        code = cube.errors.first_below(cell, cube.hierarchies)  # a total: the first error below
        out[cell] = ErrorCode(code).text if code else v
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_rules_over_extreme_values_agree_with_a_fresh_engine(data: st.DataObject) -> None:
    e = rule_engine({})
    inputs: dict[tuple[int, int, int], float] = {}
    leaves = [(p, t, m) for p in (1, 2) for t in (1, 2, 3) for m in (0, 1)]
    for step in range(data.draw(st.integers(1, 8), label="writes")):
        picks = data.draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=3, unique=True))
        values = [data.draw(RULE_INPUT) for _ in picks]
        note(f"write {step}: {dict(zip(picks, values, strict=True))}")
        inputs.update(zip(picks, values, strict=True))
        e.write("C", np.array(picks), np.array(values), {})
        incremental, full = rule_cells(e), rule_cells(rule_engine(inputs))
        for cell, want in full.items():
            got = incremental[cell]
            if isinstance(want, str) or isinstance(got, str):
                assert got == want, f"after write {step}: {cell} is {got!r}, fresh {want!r}"
                continue
            assert not math.isnan(got), f"after write {step}: {cell} is NaN without an error"
            is_total = cell[0] == 0 or cell[1] == 0
            if is_total:  # summed by deltas or afresh: equal up to rounding, inf only when both
                assert math.isinf(got) == math.isinf(want) or abs(want) > FLOAT_MAX / 4, cell
                if math.isfinite(got) and math.isfinite(want):
                    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9 * 1e15), cell
            else:
                assert math.isfinite(got), f"after write {step}: rule cell {cell} is {got!r}"
                assert math.isclose(got, want, rel_tol=1e-12), (cell, got, want)
