"""Spreading as tables: every method, with and without holds, weights and rule cells."""

from __future__ import annotations

import numpy as np
import pytest

from calc_engine import CubeArray, Edge, Hierarchy
from calc_engine.spread import Method, SpreadError, spread


def cube() -> CubeArray:
    """Account: Net = Rev - Cost (Cost = Sal + Rent); Month: Q1 = Jan + Feb."""
    acc = Hierarchy(
        "A",
        ["Net", "Rev", "Cost", "Sal", "Rent"],
        [Edge("Net", "Rev"), Edge("Net", "Cost", -1), Edge("Cost", "Sal"), Edge("Cost", "Rent")],
    )
    month = Hierarchy("M", ["Q1", "Jan", "Feb"], [Edge("Q1", "Jan"), Edge("Q1", "Feb")])
    c = CubeArray("c", [acc, month])
    # Sal: 10, 30 ; Rent: 20, 40  -> Cost Q1 = 100
    c.write(np.array([[3, 1], [3, 2], [4, 1], [4, 2]]), np.array([10.0, 30.0, 20.0, 40.0]))
    return c


def apply(c: CubeArray, coords: np.ndarray, values: np.ndarray) -> dict[tuple[int, int], float]:
    c.write(coords, values)
    return {(int(a), int(b)): float(v) for (a, b), v in zip(coords, values, strict=True)}


COST_Q1 = (2, 0)


@pytest.mark.parametrize(
    ("method", "value", "expected"),
    [
        (Method.proportional, 200.0, {(3, 1): 20, (3, 2): 60, (4, 1): 40, (4, 2): 80}),
        (Method.equal, 200.0, {(3, 1): 50, (3, 2): 50, (4, 1): 50, (4, 2): 50}),
        (Method.repeat, 7.0, {(3, 1): 7, (3, 2): 7, (4, 1): 7, (4, 2): 7}),
        (Method.percent, 10.0, {(3, 1): 11, (3, 2): 33, (4, 1): 22, (4, 2): 44}),
        (Method.clear, 0.0, {(3, 1): 0, (3, 2): 0, (4, 1): 0, (4, 2): 0}),
    ],
)
def test_methods_across_two_dimensions(
    method: Method, value: float, expected: dict[tuple[int, int], float]
) -> None:
    c = cube()
    got = apply(c, *spread(c, COST_Q1, value, method))
    assert got == pytest.approx(expected)
    if method in (Method.proportional, Method.equal):
        assert c.read([[2], [0]])[0, 0] == pytest.approx(value)


@pytest.mark.parametrize(
    ("method", "value", "expected"),
    [
        (
            Method.proportional,
            200.0,
            {(3, 2): 30 * 190 / 90, (4, 1): 20 * 190 / 90, (4, 2): 40 * 190 / 90},
        ),
        (Method.equal, 200.0, {(3, 2): 190 / 3, (4, 1): 190 / 3, (4, 2): 190 / 3}),
        (Method.repeat, 7.0, {(3, 2): 7, (4, 1): 7, (4, 2): 7}),
        (Method.percent, 10.0, {(3, 2): 33, (4, 1): 22, (4, 2): 44}),
        (Method.clear, 0.0, {(3, 2): 0, (4, 1): 0, (4, 2): 0}),
    ],
)
def test_every_method_leaves_a_held_leaf_alone(
    method: Method, value: float, expected: dict[tuple[int, int], float]
) -> None:
    """Sal/Jan (10) is held: no method writes it, and the totals methods still reach the value."""
    c = cube()
    got = apply(c, *spread(c, COST_Q1, value, method, holds=[(3, 1)]))
    assert got == pytest.approx(expected)
    assert c.read([[3], [1]])[0, 0] == 10.0
    if method in (Method.proportional, Method.equal):
        assert c.read([[2], [0]])[0, 0] == pytest.approx(value)


def test_holds_on_a_leaf_and_on_a_consolidation() -> None:
    c = cube()
    got = apply(c, *spread(c, COST_Q1, 200.0, Method.proportional, holds=[(3, 1)]))
    assert (3, 1) not in got  # Sal/Jan held at 10; the other three share 190 by their weight
    assert c.read([[2], [0]])[0, 0] == pytest.approx(200.0)
    assert got[(3, 2)] == pytest.approx(30 * 190 / 90)
    c = cube()
    got = apply(c, *spread(c, COST_Q1, 160.0, Method.equal, holds=[(3, 0)]))  # Sal Q1 held
    assert set(got) == {(4, 1), (4, 2)} and got[(4, 1)] == pytest.approx(60.0)


def test_negative_weights_are_respected() -> None:
    c = cube()
    c.write(np.array([[1, 1], [1, 2]]), np.array([300.0, 300.0]))  # Rev
    # Net Q1 = 600 - 100 = 500; proportional to 1000 doubles every leaf, Net follows
    apply(c, *spread(c, (0, 0), 1000.0, Method.proportional))
    assert c.read([[0], [0]])[0, 0] == pytest.approx(1000.0)
    with pytest.raises(SpreadError, match="cancel"):  # Jan: Rev(+1) and Sal(-1) free
        spread(cube(), (0, 1), 5.0, Method.equal, fixed=lambda xy: xy[:, 0] == 4)
    c = cube()
    got = apply(c, *spread(c, (0, 1), 50.0, Method.equal))  # Jan: Rev(+1), Sal(-1), Rent(-1)
    assert got[(1, 1)] == pytest.approx(-50.0) and c.read([[0], [1]])[0, 0] == pytest.approx(50.0)


def test_empty_leaves_proportional_falls_back_to_equal() -> None:
    c = cube()
    got = apply(c, *spread(c, (1, 0), 90.0, Method.proportional))  # Rev is empty
    assert got == {(1, 1): 45.0, (1, 2): 45.0}


def test_rule_cells_are_frozen_and_all_frozen_is_an_error() -> None:
    c = cube()
    got = apply(
        c, *spread(c, COST_Q1, 100.0, Method.equal, fixed=lambda xy: xy[:, 0] == 4)
    )  # Rent computed by a rule
    assert set(got) == {(3, 1), (3, 2)} and got[(3, 1)] == pytest.approx(20.0)
    with pytest.raises(SpreadError, match="nothing can change"):
        spread(c, COST_Q1, 1.0, Method.equal, holds=[(2, 0)])


def test_a_leaf_cell_spreads_to_itself() -> None:
    c = cube()
    assert apply(c, *spread(c, (3, 1), 12.0, Method.proportional)) == {(3, 1): 12.0}


def test_a_total_past_the_float_range_cannot_be_spread_proportionally() -> None:
    c = cube()
    c.write(np.array([[3, 1], [4, 1]]), np.array([1.7e308, 1.7e308]))  # Cost Jan overflows
    assert np.isinf(c.values[2, 1])
    with pytest.raises(SpreadError, match="float range"):
        spread(c, (2, 1), 1e6, Method.proportional)
    _, values = spread(c, (2, 1), 10.0, Method.equal)  # equal does not read the total
    assert values.tolist() == [5.0, 5.0]


def test_an_error_in_a_frozen_cell_makes_the_spread_fail_not_clear() -> None:
    c = cube()
    c.write(np.array([[4, 1]]), np.array([np.nan]))  # Rent Jan: a formula error (a rule cell)
    with pytest.raises(SpreadError, match="error"):
        spread(c, COST_Q1, 500.0, Method.proportional, fixed=lambda xy: (xy == [4, 1]).all(1))
