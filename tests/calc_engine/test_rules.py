"""Rules in the engine: the driver-based P&L as small tables; incremental equals full recalc."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_engine import Edge, Engine, Hierarchy
from calc_engine.compile import RuleDef
from calc_engine.errors import RuleCellError, RuleCycleError, RuleSyntaxError
from calc_engine.functions import ErrorCode

MEASURES = ["Units", "Price", "Revenue", "COGS", "GM", "Opex", "EBIT", "RevYTD"]
PNL_RULES = [
    RuleDef("revenue", "Revenue", "=Units * Price"),
    RuleDef("cogs", "COGS", '=Revenue * DB("Assump", "COGS%")'),
    RuleDef("gm", "GM", "=Revenue - COGS"),
    RuleDef("opex", "Opex", '=Units * DB("Assump", "OpexPerUnit", "All Products")'),
    RuleDef("ebit", "EBIT", "=GM - Opex"),
    RuleDef("ytd", "RevYTD", "=PREV(RevYTD) + Revenue"),
]


def pnl(products: int = 3, months: int = 4) -> Engine:
    """Product (with a total) x Month (with FY, role time) x Measure; Assump by Product."""
    e = Engine()
    names = [f"p{i}" for i in range(products)]
    e.set_dimension(
        Hierarchy("Product", ["All Products", *names], [Edge("All Products", p) for p in names])
    )
    ms = [f"m{i}" for i in range(months)]
    e.set_dimension(Hierarchy("Month", ["FY", *ms], [Edge("FY", m) for m in ms]))
    e.set_dimension(Hierarchy("Measure", MEASURES))
    e.set_dimension(Hierarchy("AssumpMeasure", ["COGS%", "OpexPerUnit"]))
    e.add_cube("PnL", ["Product", "Month", "Measure"], measure="Measure", time="Month")
    e.add_cube("Assump", ["Product", "AssumpMeasure"], measure="AssumpMeasure")
    rng = np.random.default_rng(3)
    for p in range(1, products + 1):
        for m in range(1, months + 1):
            units, price = float(rng.integers(1, 100)), float(rng.integers(1, 20))
            put(e, "PnL", (p, m, 0), units)
            put(e, "PnL", (p, m, 1), price)
        put(e, "Assump", (p, 0), round(float(rng.uniform(0.2, 0.6)), 2))
        put(e, "Assump", (p, 1), 0.25)  # opex reads the total over products: 0.75
    e.set_rules({"PnL": PNL_RULES})
    return e


def put(e: Engine, cube: str, coord: tuple[int, ...], value: float) -> None:
    e.write(cube, np.array([coord]), np.array([value]), {})


def reference(e: Engine) -> np.ndarray:
    """The P&L leaves from first principles with numpy."""
    v = e.cube("PnL").values
    a = e.cube("Assump").values
    units, price = v[1:, 1:, 0], v[1:, 1:, 1]
    revenue = units * price
    cogs = revenue * a[1:, 0][:, None]
    opex = units * a[1:, 1].sum()
    out = np.stack(
        [
            units,
            price,
            revenue,
            cogs,
            revenue - cogs,
            opex,
            revenue - cogs - opex,
            np.cumsum(revenue, axis=1),
        ],
        axis=2,
    )
    return out


def leaves(e: Engine) -> np.ndarray:
    return e.cube("PnL").values[1:, 1:, :]


def test_full_recalc_matches_numpy() -> None:
    e = pnl()
    np.testing.assert_allclose(leaves(e), reference(e), rtol=1e-12)
    totals = e.cube("PnL").values
    np.testing.assert_allclose(totals[0, 0, 6], reference(e)[:, :, 6].sum())


def test_a_write_updates_dependent_rules_and_totals() -> None:
    e = pnl()
    put(e, "PnL", (2, 2, 0), 1000.0)  # Units of p1 in m1
    np.testing.assert_allclose(leaves(e), reference(e), rtol=1e-12)
    np.testing.assert_allclose(e.cube("PnL").values[0, 0, 6], reference(e)[:, :, 6].sum())
    # RevYTD runs on in later months only
    assert e.cube("PnL").values[2, 4, 7] == pytest.approx(reference(e)[1, 3, 7])


def test_cross_cube_edit_reaches_every_month_of_the_product() -> None:
    e = pnl()
    put(e, "Assump", (1, 0), 0.9)  # COGS% of p0
    np.testing.assert_allclose(leaves(e), reference(e), rtol=1e-12)
    before = leaves(e)[:, :, 5].copy()
    put(e, "Assump", (1, 1), 2.0)  # p0's OpexPerUnit moves the total that every product reads
    np.testing.assert_allclose(leaves(e), reference(e), rtol=1e-12)
    assert (leaves(e)[:, :, 5] != before).all()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 3),
            st.integers(1, 4),
            st.integers(0, 1),
            st.floats(-100, 100, allow_nan=False),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_incremental_equals_full_recalc(writes: list[tuple[int, int, int, float]]) -> None:
    e = pnl()
    for p, m, meas, value in writes:
        put(e, "PnL", (p, m, meas), round(value, 2))
    incremental = e.cube("PnL").values.copy()
    e.recalc()
    np.testing.assert_allclose(incremental, e.cube("PnL").values, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(leaves(e), reference(e), rtol=1e-9, atol=1e-9)


def test_rule_cells_cannot_be_written() -> None:
    e = pnl()
    with pytest.raises(RuleCellError) as exc:
        e.leaf_coords("PnL", [("p0", "m0", "Revenue")])
    assert exc.value.rule == "revenue"
    assert e.leaf_coords("PnL", [("p0", "m0", "Units")]).tolist() == [[1, 1, 0]]


def test_division_by_zero_is_a_cell_value_and_heals() -> None:
    e = pnl()
    e.set_rules({"PnL": [*PNL_RULES[:2], RuleDef("gm", "GM", "=Revenue / (Units - 5)")]})
    put(e, "PnL", (1, 1, 0), 5.0)
    cube = e.cube("PnL")
    assert np.isnan(cube.values[1, 1, 4])
    assert cube.errors[(1, 1, 4)] == ErrorCode.DIV0
    assert np.isnan(cube.values[0, 0, 4])  # the error reaches the total, as in Excel
    put(e, "PnL", (1, 1, 0), 6.0)
    assert not cube.errors and np.isfinite(cube.values[0, 0, 4])


def test_iferror_and_if() -> None:
    e = pnl()
    e.set_rules(
        {
            "PnL": [
                RuleDef("gm", "GM", "=IFERROR(Units / (Units - Units), -1)"),
                RuleDef("ebit", "EBIT", "=IF(Units > 50, 1, 0)"),
            ]
        }
    )
    cube = e.cube("PnL")
    assert (cube.values[1:, 1:, 4] == -1).all()
    np.testing.assert_array_equal(cube.values[1:, 1:, 6], (cube.values[1:, 1:, 0] > 50) * 1.0)


def test_cycles_are_refused_naming_the_rules_and_nothing_changes() -> None:
    e = pnl()
    before = e.cube("PnL").values.copy()
    with pytest.raises(RuleCycleError) as exc:
        e.set_rules({"PnL": [RuleDef("a", "GM", "=EBIT + 1"), RuleDef("b", "EBIT", "=GM * 2")]})
    assert set(exc.value.rules) == {"a", "b"}
    assert {r.rule.name for r in e.rules.compiled} == {r.name for r in PNL_RULES}
    np.testing.assert_array_equal(e.cube("PnL").values, before)


@pytest.mark.parametrize(
    ("formula", "position", "words"),
    [
        ("=Units * Bogus", 9, "Bogus"),
        ("=Units +", 8, "ends"),
        ("=FOO(1)", 1, "unknown function FOO"),
        ('=DB("Nope", "x")', 4, "no cube"),
        ("=ROUND(1)", 1, "ROUND takes 2"),
        ('=Units & "x"', 7, "not supported"),
    ],
)
def test_bad_rules_name_the_position(formula: str, position: int, words: str) -> None:
    e = pnl()
    with pytest.raises(RuleSyntaxError) as exc:
        e.check_rules({"PnL": [RuleDef("x", "GM", formula)]})
    assert exc.value.position == position, exc.value
    assert words in str(exc.value)


def test_where_narrows_the_area_and_overlaps_are_refused() -> None:
    e = pnl()
    e.set_rules(
        {
            "PnL": [
                RuleDef("gm0", "GM", "=1", where={"Product": ["p0"]}),
                RuleDef("gm1", "GM", "=2", where={"Product": ["p1", "p2"]}),
            ]
        }
    )
    assert (e.cube("PnL").values[1, 1:, 4] == 1).all()
    assert (e.cube("PnL").values[2:, 1:, 4] == 2).all()
    with pytest.raises(RuleSyntaxError, match="both compute"):
        e.check_rules(
            {"PnL": [RuleDef("a", "GM", "=1"), RuleDef("b", "GM", "=2", where={"Product": ["p1"]})]}
        )


def test_period_offsets() -> None:
    e = pnl()
    e.set_rules(
        {
            "PnL": [
                RuleDef("gm", "GM", "=PERIOD(Units, -2)"),
                RuleDef("ebit", "EBIT", "=NEXT(Units)"),
            ]
        }
    )
    v = e.cube("PnL").values
    np.testing.assert_array_equal(v[1:, 3:, 4], v[1:, 1:3, 0])
    assert (v[1:, 1:3, 4] == 0).all()
    np.testing.assert_array_equal(v[1:, 1:4, 6], v[1:, 2:5, 0])
    assert (v[1:, 4, 6] == 0).all()


def test_names_follow_excel_rules_and_m_quotes_any_name() -> None:
    e = pnl()
    e.set_rules({"PnL": [RuleDef("gm", "GM", '=units * M("Price") + revytd * 0')]})
    v = e.cube("PnL").values
    np.testing.assert_array_equal(v[1:, 1:, 4], v[1:, 1:, 0] * v[1:, 1:, 1])


def test_trace_explains_totals_rules_and_inputs() -> None:
    from calc_engine.trace import trace

    e = pnl()
    tree = trace(e, "PnL", (0, 2, 2), depth=3).to_dict(e)  # Revenue, all products, m1
    assert tree["kind"] == "consolidation" and tree["elements"] == ["All Products", "m1", "Revenue"]
    assert [c["elements"][0] for c in tree["children"]] == ["p0", "p1", "p2"]
    first = tree["children"][0]
    assert first["kind"] == "rule" and first["formula"] == "=Units * Price" and first["weight"] == 1
    inputs = {tuple(c["elements"]): c for c in first["children"]}
    units = e.cube("PnL").values[1, 2, 0]
    assert inputs[("p0", "m1", "Units")]["kind"] == "input"
    assert inputs[("p0", "m1", "Units")]["value"] == units
    assert first["value"] == pytest.approx(units * e.cube("PnL").values[1, 2, 1])
    ytd = trace(e, "PnL", (1, 2, 7), depth=1).to_dict(e)  # RevYTD reads m0 and Revenue
    assert {tuple(c["elements"]) for c in ytd["children"]} == {
        ("p0", "m0", "RevYTD"),
        ("p0", "m1", "Revenue"),
    }
    cogs = trace(e, "PnL", (1, 1, 3), depth=1).to_dict(e)
    assert ("p0", "COGS%") in {tuple(c["elements"]) for c in cogs["children"]}
    small = trace(e, "PnL", (0, 0, 6), depth=5, max_nodes=5).to_dict(e)
    assert small.get("truncated") or any(c.get("truncated") for c in small["children"])


def calendar_engine() -> Engine:
    """All Years > FY1, FY2 > Q1..Q2 > two months each; Measure x, ytd, attr; Product p0/p1."""
    e = Engine()
    names, edges = ["All"], []
    for y in ("FY1", "FY2"):
        names.append(y)
        edges.append(Edge("All", y))
        for q in ("Q1", "Q2"):
            names.append(f"{y}{q}")
            edges.append(Edge(y, f"{y}{q}"))
            for m in ("a", "b"):
                names.append(f"{y}{q}{m}")
                edges.append(Edge(f"{y}{q}", f"{y}{q}{m}"))
    e.set_dimension(Hierarchy("Time", names, edges))
    e.set_dimension(Hierarchy("P", ["p0", "p1"]))
    e.set_dimension(Hierarchy("Measure", ["x", "ytd", "scaled"]))
    e.attributes["P"] = {"Factor": np.array([2.0, np.nan])}
    e.add_cube("C", ["P", "Time", "Measure"], measure="Measure", time="Time")
    leaves = e.dimension("Time").leaves
    for p in (0, 1):
        for k, t in enumerate(leaves):
            put(e, "C", (p, int(t), 0), float(k + 1 + 10 * p))
    e.set_rules(
        {
            "C": [
                RuleDef("ytd", "ytd", "=YTD(x)"),
                RuleDef("scaled", "scaled", '=x * ATTR("P", "Factor")'),
            ]
        }
    )
    return e


def test_ytd_restarts_every_year_and_follows_edits() -> None:
    e = calendar_engine()
    leaves = e.dimension("Time").leaves
    ytd = e.cube("C").values[0, leaves, 1]
    np.testing.assert_array_equal(ytd, [1, 3, 6, 10, 5, 11, 18, 26])
    put(e, "C", (0, int(leaves[1]), 0), 102.0)  # +100 in FY1's second month
    np.testing.assert_array_equal(
        e.cube("C").values[0, leaves, 1], [1, 103, 106, 110, 5, 11, 18, 26]
    )
    incremental = e.cube("C").values.copy()
    e.recalc()
    np.testing.assert_array_equal(incremental, e.cube("C").values)


def test_ytd_on_a_flat_year_and_attributes() -> None:
    e = pnl()
    e.set_rules({"PnL": [RuleDef("ytd", "RevYTD", "=YTD(Units)")]})
    v = e.cube("PnL").values
    np.testing.assert_array_equal(v[1:, 1:, 7], np.cumsum(v[1:, 1:, 0], axis=1))
    c = calendar_engine().cube("C")
    assert (c.values[0, 3:, 2] == 2 * c.values[0, 3:, 0]).all()  # Factor 2 on p0
    assert (c.values[1, :, 2] == 0).all()  # no Factor on p1: empty
    with pytest.raises(RuleSyntaxError, match="no number attribute"):
        calendar_engine().check_rules({"C": [RuleDef("s", "scaled", '=ATTR("P", "Nope")')]})


def test_rules_reading_a_consolidated_measure_follow_its_leaves() -> None:
    """Gross = Revenue - COGS is a consolidated measure; Tax reads it; COGS is a rule."""
    e = Engine()
    e.set_dimension(Hierarchy("P", ["p0", "p1"]))
    e.set_dimension(
        Hierarchy(
            "Measure",
            ["Gross", "Revenue", "COGS", "Tax"],
            [Edge("Gross", "Revenue"), Edge("Gross", "COGS", -1)],
        )
    )
    e.add_cube("C", ["P", "Measure"], measure="Measure")
    put(e, "C", (1, 1), 100.0)
    e.set_rules(
        {
            "C": [
                RuleDef("tax", "Tax", '=M("Gross") * 0.1'),
                RuleDef("cogs", "COGS", "=Revenue * 0.6"),
            ]
        }
    )
    assert e.cube("C").values[1, 3] == pytest.approx(4.0)
    put(e, "C", (1, 1), 1000.0)
    assert e.cube("C").values[1, 3] == pytest.approx(40.0)


def test_same_rule_name_in_two_cubes() -> None:
    e = Engine()
    e.set_dimension(Hierarchy("Measure", ["x", "y"]))
    e.add_cube("A", ["Measure"], measure="Measure")
    e.add_cube("B", ["Measure"], measure="Measure")
    put(e, "A", (0,), 2.0)
    put(e, "B", (0,), 3.0)
    e.set_rules({"A": [RuleDef("r", "y", "=x * 10")], "B": [RuleDef("r", "y", "=x * 100")]})
    assert (e.cube("A").values[1], e.cube("B").values[1]) == (20.0, 300.0)


def test_a_batch_naming_a_cell_twice_keeps_the_last_value() -> None:
    e = pnl()
    e.write("PnL", np.array([[1, 1, 0]] * 3), np.array([10.0, 20.0, 30.0]), {})
    assert e.cube("PnL").values[1, 1, 0] == 30.0
    np.testing.assert_allclose(leaves(e), reference(e), rtol=1e-12)
    assert e.cube("PnL").values[0, 0, 0] == pytest.approx(reference(e)[:, :, 0].sum())


def test_a_cube_over_an_empty_dimension() -> None:
    e = Engine()
    e.set_dimension(Hierarchy("Empty", []))
    e.set_dimension(Hierarchy("M", ["x"]))
    cube = e.add_cube("C", ["Empty", "M"])
    cube.recompute()
    assert cube.values.shape == (0, 1)


def test_a_rule_failing_over_its_whole_area_keeps_one_byte_per_cell() -> None:
    """A ratio over empty drivers fails everywhere: errors live in an int8 array, not objects."""
    e = Engine()
    e.set_dimension(
        Hierarchy(
            "Row",
            ["All", *(f"r{i}" for i in range(400))],
            [Edge("All", f"r{i}") for i in range(400)],
        )
    )
    e.set_dimension(Hierarchy("Col", [f"c{i}" for i in range(250)]))
    e.set_dimension(Hierarchy("Measure", ["Amount", "Units", "Price"]))
    e.add_cube("C", ["Row", "Col", "Measure"], measure="Measure")
    e.set_rules({"C": [RuleDef("price", "Price", "=Amount / Units")]})
    errors = e.cube("C").errors
    assert len(errors) == 400 * 250  # every rule cell
    assert errors.codes is not None and errors.codes.dtype == np.int8
    hs = e.cube("C").hierarchies
    assert np.isnan(e.cube("C").values[0, 0, 2]) and errors.first_below((0, 0, 2), hs) == 1
    put(e, "C", (1, 0, 1), 4.0)  # r0, c0 gets units: that cell heals, its total does not
    assert (1, 0, 2) not in errors and e.cube("C").values[1, 0, 2] == 0.0
    assert errors.first_below((0, 0, 2), hs) == ErrorCode.DIV0 and len(errors) == 400 * 250 - 1
    e.set_rules({"C": [RuleDef("price", "Price", "=IFERROR(Amount / Units, 0)")]})
    assert not errors and not np.isnan(e.cube("C").values).any()


def test_overflow_is_num_in_rule_cells_and_totals_and_heals_with_its_inputs() -> None:
    """The numeric policy (calc_engine.cube): a result past the float range is #NUM!, a total
    of such results holds inf (read as #NUM! by rules), and all of it follows the inputs back."""
    e = Engine()
    e.set_dimension(Hierarchy("P", ["All", "a", "b"], [Edge("All", "a"), Edge("All", "b")]))
    e.set_dimension(Hierarchy("T", ["Y", "t1", "t2"], [Edge("Y", "t1"), Edge("Y", "t2")]))
    e.set_dimension(Hierarchy("M", ["In", "Big", "Caught", "Run", "Share"]))
    e.add_cube("C", ["P", "T", "M"], measure="M", time="T")
    e.set_rules(
        {
            "C": [
                RuleDef("big", "Big", "=In * 1e293"),
                RuleDef("caught", "Caught", "=IFERROR(Big * 1e10, -1)"),
                RuleDef("run", "Run", "=PREV(Run) + Big"),
                RuleDef("share", "Share", '=DB("C", "All", "Big") / 1e10'),
            ]
        }
    )
    cube = e.cube("C")

    def show(p: int, t: int, m: int) -> float | str:
        code = cube.errors.first_below((p, t, m), cube.hierarchies)
        v = float(cube.values[p, t, m])
        return ErrorCode(code).text if code else ("#NUM!" if np.isinf(v) else v)

    put(e, "C", (1, 1, 0), 1e15)  # a: In 1e15 in t1 -> Big 1e308
    assert [show(1, 1, m) for m in range(1, 5)] == [1e308, -1.0, 1e308, 1e298]
    put(e, "C", (2, 1, 0), 1e15)  # b too: the total of Big over P passes the float range
    assert show(0, 1, 1) == "#NUM!" and show(1, 1, 4) == "#NUM!"  # Share reads that total
    assert show(1, 1, 1) == 1e308 and show(1, 1, 2) == -1.0
    put(e, "C", (1, 2, 0), 1e15)  # a in t2: the running sum passes it in t2
    assert show(1, 2, 3) == "#NUM!" and show(1, 1, 3) == 1e308
    put(e, "C", (2, 1, 0), 0.0)  # b back to nothing: every total is a number again
    put(e, "C", (1, 2, 0), 1.0)
    assert [show(0, 1, 1), show(1, 1, 4), show(1, 2, 3)] == [1e308, 1e298, 1e308 + 1e293]
    assert show(0, 0, 1) == 1e308 + 1e293 and not cube.errors
