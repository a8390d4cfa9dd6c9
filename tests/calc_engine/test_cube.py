"""Cube arrays: cached consolidations stay equal to the weighted sum of leaves."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_engine import CubeArray, Edge, Hierarchy
from calc_engine.cube import dense_cost


def reference(cube: CubeArray) -> np.ndarray:
    """Every cell from first principles: sum over leaves of value x product of weights."""
    leaf = cube.values[np.ix_(*(h.leaves for h in cube.hierarchies))]
    dense = [h.rollup.toarray() for h in cube.hierarchies]
    out = leaf
    for axis, w in enumerate(dense):
        out = np.moveaxis(np.tensordot(w, np.moveaxis(out, axis, 0), axes=1), 0, axis)
    return out


@st.composite
def hierarchies(draw: st.DrawFn, name: str) -> Hierarchy:
    """A random DAG: leaves first, then consolidations over earlier elements (so no cycles)."""
    n_leaves = draw(st.integers(1, 5))
    n_cons = draw(st.integers(0, 4))
    names = [f"{name}{i}" for i in range(n_leaves + n_cons)]
    edges = []
    for c in range(n_leaves, n_leaves + n_cons):
        kids = draw(st.lists(st.integers(0, c - 1), min_size=1, max_size=4, unique=True))
        for k in kids:
            w = draw(st.sampled_from([1.0, -1.0, 0.5, 2.0]))
            edges.append(Edge(names[c], names[k], w))
    return Hierarchy(name, names, edges)


@st.composite
def cube_and_writes(draw: st.DrawFn) -> tuple[CubeArray, list[tuple[list[int], float]]]:
    hs = [draw(hierarchies(n)) for n in ("a", "b", "c")[: draw(st.integers(1, 3))]]
    cube = CubeArray("c", hs)
    writes = []
    for _ in range(draw(st.integers(1, 25))):
        coord = [int(draw(st.sampled_from(list(h.leaves)))) for h in hs]
        value = draw(st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 2)))
        writes.append((coord, value))
    return cube, writes


@settings(max_examples=150, deadline=None)
@given(cube_and_writes())
def test_incremental_writes_equal_full_recompute(
    case: tuple[CubeArray, list[tuple[list[int], float]]],
) -> None:
    cube, writes = case
    for coord, value in writes:
        cube.write(np.array([coord]), np.array([value]))
    np.testing.assert_allclose(cube.values, reference(cube), rtol=1e-9, atol=1e-6)
    fresh = CubeArray("c", cube.hierarchies)
    coords, values = cube.leaf_cells()
    fresh.load(coords, values)
    np.testing.assert_allclose(fresh.values, cube.values, rtol=1e-9, atol=1e-6)


def test_write_returns_old_values_and_updates_all_ancestors() -> None:
    acc = Hierarchy("A", ["Net", "Rev", "Cost"], [Edge("Net", "Rev"), Edge("Net", "Cost", -1)])
    month = Hierarchy("M", ["Q1", "Jan", "Feb"], [Edge("Q1", "Jan"), Edge("Q1", "Feb")])
    cube = CubeArray("c", [acc, month])
    old = cube.write(np.array([[1, 1], [2, 2]]), np.array([100.0, 30.0]))
    assert old.tolist() == [0.0, 0.0]
    assert cube.read([[0], [0]])[0, 0] == 70.0
    old = cube.write(np.array([[1, 1]]), np.array([90.0]))
    assert old.tolist() == [100.0]
    assert cube.read([[0, 1, 2], [0]]).ravel().tolist() == [60.0, 90.0, 30.0]


def test_large_batch_recomputes_and_matches_reference() -> None:
    h = Hierarchy(
        "P", ["T", *[f"p{i}" for i in range(50)]], [Edge("T", f"p{i}") for i in range(50)]
    )
    m = Hierarchy(
        "M", ["FY", *[f"m{i}" for i in range(12)]], [Edge("FY", f"m{i}") for i in range(12)]
    )
    cube = CubeArray("c", [h, m])
    rng = np.random.default_rng(1)
    coords = np.array([[p, q] for p in range(1, 51) for q in range(1, 13)])
    values = rng.normal(size=len(coords))
    cube.write(coords, values)  # 600 cells: above the recompute threshold
    np.testing.assert_allclose(cube.values, reference(cube))
    assert np.isclose(cube.read([[0], [0]])[0, 0], values.sum())


def test_leaf_cells_lists_only_non_empty_leaves() -> None:
    h = Hierarchy("A", ["T", "x", "y"], [Edge("T", "x"), Edge("T", "y")])
    cube = CubeArray("c", [h])
    cube.write(np.array([[1], [2]]), np.array([5.0, 0.0]))
    coords, values = cube.leaf_cells()
    assert coords.tolist() == [[1]]
    assert values.tolist() == [5.0]


def test_dense_cost_is_what_a_cube_array_holds() -> None:
    hs = [
        Hierarchy("a", ["T", "x", "y"], [Edge("T", "x"), Edge("T", "y")]),
        Hierarchy("b", ["p", "q", "r", "s"]),
    ]
    cube = CubeArray("c", hs)
    cube.errors[(0, 0)] = 1  # the error codes, allocated with the first error
    assert cube.errors.codes is not None
    addresses, nbytes = dense_cost([h.size for h in hs])
    assert addresses == cube.values.size == 12
    assert nbytes == cube.values.nbytes + cube.errors.codes.nbytes
    # costed without allocating: the 7.28 TiB cube of the issue is only arithmetic here
    assert dense_cost([10_000, 10_000, 10_000]) == (10**12, 9 * 10**12)


# -- the numeric policy (module docstring): exact leaves, overflow as inf, totals that recover --


def _flat() -> CubeArray:
    """T = a + b + c, as one cube axis (a second, flat axis keeps it a real cube)."""
    t = Hierarchy("A", ["T", "a", "b", "c"], [Edge("T", x) for x in "abc"])
    return CubeArray("c", [t, Hierarchy("M", ["x"])])


def put(cube: CubeArray, cells: dict[int, float]) -> None:
    cube.write(np.array([[p, 0] for p in cells]), np.array(list(cells.values())))


def column(cube: CubeArray) -> list[float]:
    return [float(v) for v in cube.values[:, 0]]


def test_a_leaf_holds_what_was_written_after_a_big_value() -> None:
    cube = _flat()
    put(cube, {1: 1e15})
    put(cube, {1: 0.3})  # as a delta: 1e15 + (0.3 - 1e15) is 0.25
    assert column(cube) == [0.3, 0.3, 0.0, 0.0]
    put(cube, {2: 1e15, 3: 0.7})
    put(cube, {2: 0.1, 1: 0.2})  # a batch through the delta path
    assert column(cube) == [0.2 + 0.1 + 0.7, 0.2, 0.1, 0.7]


def test_a_total_that_shrinks_a_lot_is_summed_again() -> None:
    cube = _flat()
    put(cube, {1: 1e15, 2: 100.3})
    put(cube, {1: 0.0})  # 1e15 + 100.3 - 1e15 is 100.25 by deltas
    assert column(cube)[0] == 100.3
    put(cube, {3: -100.3})
    assert column(cube)[0] == 0.0


def test_an_overflowing_total_holds_inf_and_recovers_when_its_leaves_shrink() -> None:
    cube = _flat()
    put(cube, {1: 1.7e308})
    put(cube, {2: 1.7e308})
    assert column(cube)[0] == np.inf and cube.overflow
    put(cube, {3: -1.7e308})  # inf - 1.7e308 stays inf, never NaN
    assert column(cube)[0] == np.inf
    put(cube, {1: 0.0, 2: 0.0})
    put(cube, {3: 100.0})
    assert column(cube) == [100.0, 0.0, 0.0, 100.0]


def test_a_sum_that_runs_into_inf_minus_inf_is_inf_not_nan() -> None:
    cube = _flat()
    coords = np.array([[1, 0], [2, 0], [3, 0]])
    cube.load(coords, np.array([1.7e308, 1.7e308, -1.7e308]))
    assert column(cube)[0] == np.inf
    big = Hierarchy("B", ["T", "p", "q"], [Edge("T", "p", 1e6), Edge("T", "q", 1e6)])
    wide = CubeArray("w", [big, cube.hierarchies[0]])
    # each product p x 1e6 overflows, to +inf and -inf: their sum is NaN without the policy
    wide.load(np.array([[1, 1], [2, 1]]), np.array([1.7e305, -1.7e305]))
    assert wide.values[0, 1] == np.inf and wide.values[0, 0] == np.inf
    assert not np.isnan(wide.values).any()


def test_an_error_below_keeps_its_total_nan_through_writes() -> None:
    cube = _flat()
    put(cube, {1: np.nan, 2: 5.0})  # a formula error at a: the total is an error too
    put(cube, {3: 1e15})
    put(cube, {3: 0.0})
    total, a, b, c = column(cube)
    assert np.isnan(total) and np.isnan(a) and (b, c) == (5.0, 0.0)
    assert not cube.overflow
    put(cube, {1: 1.0})
    assert column(cube) == [6.0, 1.0, 5.0, 0.0]


def test_weights_must_be_finite_alone_and_multiplied() -> None:
    with pytest.raises(ValueError, match="weight"):
        Hierarchy("A", ["T", "a"], [Edge("T", "a", float("inf"))])
    names = [f"L{i}" for i in range(4)] + ["leaf"]
    chain = [Edge(p, c, 1e200) for p, c in itertools.pairwise(names)]
    with pytest.raises(ValueError, match="float range"):
        Hierarchy("A", names, chain)


def test_overflow_beside_an_error_keeps_each_its_meaning() -> None:
    """A full sum with both: the total over the error leaf is NaN, the one that ran into
    inf - inf is inf (it has no error below)."""
    big = Hierarchy("B", ["T", "p", "q"], [Edge("T", "p", 1e6), Edge("T", "q", 1e6)])
    cols = Hierarchy("C", ["x", "y"])
    cube = CubeArray("w", [big, cols])
    cube.load(np.array([[1, 0], [2, 0], [1, 1]]), np.array([1.7e305, -1.7e305, np.nan]))
    assert cube.values[0, 0] == np.inf and np.isnan(cube.values[0, 1]) and cube.overflow
