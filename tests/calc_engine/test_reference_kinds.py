"""Every kind of reference a rule can make, as a table: the value it computes, and the value
after an edit of a cell it reads (incrementally, and the same after a full recalculation)."""

from __future__ import annotations

import numpy as np
import pytest

from calc_engine import Edge, Engine, Hierarchy
from calc_engine.compile import RuleDef

STORE = ["All", "Berlin", "Boston"]
MONTH = ["FY", "m0", "m1", "m2"]
MEASURE = ["Units", "Price", "Out", "Inputs"]  # Inputs = Units + Price


def model(formula: str) -> Engine:
    """Sales [Store, Month, Measure], Assump [Store, AM], FX [Currency, Month, FXM]."""
    e = Engine()
    e.set_dimension(Hierarchy("Store", STORE, [Edge("All", "Berlin"), Edge("All", "Boston")]))
    e.set_dimension(Hierarchy("Month", MONTH, [Edge("FY", m) for m in MONTH[1:]]))
    e.set_dimension(
        Hierarchy("Measure", MEASURE, [Edge("Inputs", "Units"), Edge("Inputs", "Price")])
    )
    e.set_dimension(Hierarchy("AM", ["Rate"]))
    e.set_dimension(Hierarchy("Currency", ["EUR", "USD"]))
    e.set_dimension(Hierarchy("FXM", ["ToEUR"]))
    e.attributes["Store"] = {
        "Currency": np.array([None, "EUR", "USD"], dtype=object),
        "Size": np.array([np.nan, 3.0, 4.0]),
    }
    e.add_cube("Sales", ["Store", "Month", "Measure"], measure="Measure", time="Month")
    e.add_cube("Assump", ["Store", "AM"], measure="AM")
    e.add_cube("FX", ["Currency", "Month", "FXM"], measure="FXM")
    for m in range(3):
        put(e, "Sales", ("Berlin", MONTH[m + 1], "Units"), m + 1.0)  # 1, 2, 3
        put(e, "Sales", ("Boston", MONTH[m + 1], "Units"), 10.0 * (m + 1))  # 10, 20, 30
        put(e, "Sales", ("Berlin", MONTH[m + 1], "Price"), 5.0)
        put(e, "Sales", ("Boston", MONTH[m + 1], "Price"), 7.0)
        put(e, "FX", ("EUR", MONTH[m + 1], "ToEUR"), 1.0)
        put(e, "FX", ("USD", MONTH[m + 1], "ToEUR"), 0.9 - m / 10)  # 0.9, 0.8, 0.7
    put(e, "Assump", ("Berlin", "Rate"), 0.5)
    put(e, "Assump", ("Boston", "Rate"), 2.0)
    e.set_rules({"Sales": [RuleDef("out", "Out", formula)]})
    return e


def put(e: Engine, cube: str, address: tuple[str, ...], value: float) -> None:
    e.write(cube, e.leaf_coords(cube, [address]), np.array([value]), {})


def out(e: Engine, store: str, month: str) -> float:
    c = e.cube("Sales")
    at = tuple(h.index[n] for h, n in zip(c.hierarchies, (store, month, "Out"), strict=True))
    return float(c.values[at])


BOSTON_M1 = ("Boston", "m1")

# (kind, formula, cell, value, edit (cube, address, value), value after the edit)
TABLE = [
    ("measure of the same cell", "=Units * Price", BOSTON_M1, 140.0,
     ("Sales", ("Boston", "m1", "Units"), 21.0), 147.0),
    ("any measure name, quoted", '=M("Units") + 1', BOSTON_M1, 21.0,
     ("Sales", ("Boston", "m1", "Units"), 22.0), 23.0),
    ("a consolidated measure", "=Inputs", BOSTON_M1, 27.0,
     ("Sales", ("Boston", "m1", "Price"), 8.0), 28.0),
    ("own cube at another leaf", '=DB("Sales", "Berlin", "Units")', BOSTON_M1, 2.0,
     ("Sales", ("Berlin", "m1", "Units"), 5.0), 5.0),
    ("own cube at a total", '=DB("Sales", "All", "Units")', BOSTON_M1, 22.0,
     ("Sales", ("Berlin", "m1", "Units"), 5.0), 25.0),
    ("other cube, dimensions by name", '=Units * DB("Assump", "Rate")', BOSTON_M1, 40.0,
     ("Assump", ("Boston", "Rate"), 3.0), 60.0),
    ("other cube at a total", '=DB("Assump", "All", "Rate")', BOSTON_M1, 2.5,
     ("Assump", ("Berlin", "Rate"), 1.5), 3.5),
    ("other cube through a text attribute", '=DB("FX", ATTR("Store", "Currency"), "ToEUR")',
     BOSTON_M1, 0.8, ("FX", ("USD", "m1", "ToEUR"), 0.75), 0.75),
    ("previous period", "=PREV(Units)", BOSTON_M1, 10.0,
     ("Sales", ("Boston", "m0", "Units"), 11.0), 11.0),
    ("next period", "=NEXT(Units)", BOSTON_M1, 30.0,
     ("Sales", ("Boston", "m2", "Units"), 31.0), 31.0),
    ("offset n periods", "=PERIOD(Units, -2)", ("Boston", "m2"), 10.0,
     ("Sales", ("Boston", "m0", "Units"), 12.0), 12.0),
    ("before the calendar: empty", "=PERIOD(Units, -2)", BOSTON_M1, 0.0,
     ("Sales", ("Boston", "m0", "Units"), 12.0), 0.0),
    ("cumulative to date", "=YTD(Units)", BOSTON_M1, 30.0,
     ("Sales", ("Boston", "m0", "Units"), 11.0), 31.0),
    ("number attribute", '=ATTR("Store", "Size") * Units', BOSTON_M1, 80.0,
     ("Sales", ("Boston", "m1", "Units"), 21.0), 84.0),
    ("literals", "=2 ^ 3 + 1.5 * -2 + 10%", BOSTON_M1, 5.1,
     ("Sales", ("Boston", "m1", "Units"), 21.0), 5.1),
    ("own target, previous period", "=PREV(Out) + Units", BOSTON_M1, 30.0,
     ("Sales", ("Boston", "m0", "Units"), 11.0), 31.0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("formula", "cell", "value", "edit", "after"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_every_reference_kind(
    formula: str,
    cell: tuple[str, str],
    value: float,
    edit: tuple[str, tuple[str, ...], float],
    after: float,
) -> None:
    e = model(formula)
    assert out(e, *cell) == pytest.approx(value)
    put(e, *edit)
    assert out(e, *cell) == pytest.approx(after)
    incremental = e.cube("Sales").values.copy()
    e.recalc()
    np.testing.assert_allclose(e.cube("Sales").values, incremental, rtol=1e-12)
