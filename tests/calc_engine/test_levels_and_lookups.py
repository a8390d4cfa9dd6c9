"""Consolidated-level rules, and DB() reading another cube through a text attribute."""

from __future__ import annotations

import numpy as np
import pytest

from calc_engine import Edge, Engine, Hierarchy
from calc_engine.compile import RuleDef
from calc_engine.errors import RuleSyntaxError
from calc_engine.functions import ErrorCode
from calc_engine.trace import trace

# -- consolidated rules: a weighted average price that must not be summed -----------------------

PRODUCTS = ["p0", "p1", "p2", "p3"]
MONTHS = ["m0", "m1", "m2"]
MEASURES = ["Units", "Price", "Revenue", "Margin", "Margin %"]
LEAF_RULES = [
    RuleDef("revenue", "Revenue", "=Units * Price"),
    RuleDef("margin", "Margin", "=Revenue - 2 * Units"),
]
TOTAL_RULES = [
    # written before the rule it reads: the book orders consolidated rules by their references
    RuleDef("margin %", "Margin %", "=IFERROR(Margin / Revenue, 0)", level="consolidated"),
    RuleDef("avg price", "Price", "=Revenue / Units", level="consolidated"),
]


def priced(rules: list[RuleDef] | None = None) -> Engine:
    """Product (All > F1 {p0,p1}, F2 {p2,p3}) x Month (FY, time) x Measure."""
    e = Engine()
    e.set_dimension(
        Hierarchy(
            "Product",
            ["All", "F1", "F2", *PRODUCTS],
            [Edge("All", "F1"), Edge("All", "F2")]
            + [Edge("F1", p) for p in PRODUCTS[:2]]
            + [Edge("F2", p) for p in PRODUCTS[2:]],
        )
    )
    e.set_dimension(Hierarchy("Month", ["FY", *MONTHS], [Edge("FY", m) for m in MONTHS]))
    e.set_dimension(Hierarchy("Measure", MEASURES))
    e.add_cube("Sales", ["Product", "Month", "Measure"], measure="Measure", time="Month")
    rng = np.random.default_rng(5)
    for p in range(3, 7):
        for m in range(1, 4):
            put(e, "Sales", (p, m, 0), float(rng.integers(1, 50)))
            put(e, "Sales", (p, m, 1), float(rng.integers(5, 30)))
    e.set_rules({"Sales": LEAF_RULES + TOTAL_RULES if rules is None else rules})
    return e


def put(e: Engine, cube: str, coord: tuple[int, ...], value: float) -> None:
    e.write(cube, np.array([coord]), np.array([value]), {})


def expected_price(e: Engine, products: list[int], months: list[int]) -> float:
    v = e.cube("Sales").values
    units = sum(v[p, m, 0] for p in products for m in months)
    revenue = sum(v[p, m, 0] * v[p, m, 1] for p in products for m in months)
    return revenue / units


def test_consolidated_rule_replaces_the_sum_at_every_total() -> None:
    e = priced()
    v = e.cube("Sales").values
    leaves, f1, months = [3, 4, 5, 6], [3, 4], [1, 2, 3]
    assert v[0, 0, 1] == pytest.approx(expected_price(e, leaves, months))  # All, FY
    assert v[1, 2, 1] == pytest.approx(expected_price(e, f1, [2]))  # F1, m1
    assert v[5, 0, 1] == pytest.approx(expected_price(e, [5], months))  # p2, FY
    # leaf prices stay the inputs; revenue still sums
    assert v[3, 1, 1] == e.cube("Sales").values[3, 1, 1]
    assert v[0, 0, 2] == pytest.approx(sum(v[p, m, 2] for p in leaves for m in months))
    # a consolidated rule reading another consolidated rule's measure is ordered after it
    assert v[0, 0, 4] == pytest.approx(v[0, 0, 3] / v[0, 0, 2])


@pytest.mark.parametrize(
    "coord, value",
    [((3, 1, 0), 99.0), ((6, 3, 1), 1.5), ((4, 2, 0), 0.0)],
    ids=["units (read by the rule)", "price (the rule's own leaves)", "units to zero"],
)
def test_writes_keep_consolidated_rule_cells_current(coord: tuple[int, ...], value: float) -> None:
    e = priced()
    put(e, "Sales", coord, value)
    incremental = e.cube("Sales").values.copy()
    e.recalc()
    np.testing.assert_allclose(incremental, e.cube("Sales").values, rtol=1e-12)
    assert incremental[0, 0, 1] == pytest.approx(expected_price(e, [3, 4, 5, 6], [1, 2, 3]))


SHARE_RULES = [
    *LEAF_RULES,
    # a share of the family total at every element, leaves and totals: a read at a fixed
    # element (the All product) that follows the cell in time
    RuleDef("share", "Margin %", '=IFERROR(Revenue / DB("Sales", "All", "Revenue"), 0)'),
    RuleDef(
        "share, totals",
        "Margin %",
        '=IFERROR(Revenue / DB("Sales", "All", "Revenue"), 0)',
        level="consolidated",
    ),
]


@pytest.mark.parametrize("coord", [(3, 1, 0), (6, 3, 1), (4, 2, 0), (5, 1, 1)])
@pytest.mark.parametrize("value", [0.0, 7.0, 1e6])
def test_a_write_keeps_a_share_of_a_fixed_total_current_at_every_element(
    coord: tuple[int, ...], value: float
) -> None:
    """Only the totals above the write are redone on the other axes, every element of the
    fixed one: the same numbers as a full recalculation."""
    e = priced(SHARE_RULES)
    put(e, "Sales", coord, value)
    incremental = e.cube("Sales").values.copy()
    e.recalc()
    np.testing.assert_allclose(incremental, e.cube("Sales").values, rtol=1e-12)
    v = e.cube("Sales").values
    assert v[1, 0, 4] == pytest.approx(v[1, 0, 2] / v[0, 0, 2])  # F1's share of the year


def test_a_batch_that_recomputes_every_total_redoes_the_consolidated_rule() -> None:
    e = priced()
    coords = np.array([[p, m, 0] for p in range(3, 7) for m in range(1, 4)])
    e.write("Sales", coords, np.full(len(coords), 10.0), {})  # > 5 % of the cube: recompute
    assert e.cube("Sales").values[0, 0, 1] == pytest.approx(
        expected_price(e, [3, 4, 5, 6], [1, 2, 3])
    )


def test_zero_units_at_a_total_is_a_div0_cell_not_a_crash() -> None:
    e = priced()
    for m in (1, 2, 3):
        put(e, "Sales", (3, m, 0), 0.0)
    v, errors = e.cube("Sales").values, e.cube("Sales").errors
    assert np.isnan(v[3, 0, 1]) and errors[(3, 0, 1)] == ErrorCode.DIV0  # p0 over the year
    assert not np.isnan(v[1, 0, 1])  # F1 still has p1's units
    put(e, "Sales", (3, 2, 0), 4.0)
    assert (3, 0, 1) not in errors
    assert v[3, 0, 1] == pytest.approx(expected_price(e, [3], [1, 2, 3]))


def test_where_narrows_a_consolidated_rule_to_the_totals_below_an_element() -> None:
    rules = [
        *LEAF_RULES,
        RuleDef("f1 price", "Price", "=Revenue / Units", {"Product": ["F1"]}, "consolidated"),
    ]
    e = priced(rules)
    v = e.cube("Sales").values
    assert v[1, 0, 1] == pytest.approx(expected_price(e, [3, 4], [1, 2, 3]))  # F1: the rule
    assert v[2, 0, 1] == pytest.approx(v[5:7, 1:4, 1].sum())  # F2: a plain sum of prices
    assert v[3, 0, 1] == pytest.approx(expected_price(e, [3], [1, 2, 3]))  # p0 over FY: rule


def test_consolidated_rule_cells_are_rule_cells_and_leaves_stay_inputs() -> None:
    e = priced()
    coords = np.array([[0, 0, 1], [3, 1, 1], [3, 1, 2], [0, 0, 0]])
    assert e.rules.rule_cells("Sales", coords).tolist() == [True, False, True, False]
    assert e.rules.rule_at("Sales", (0, 0, 1)).rule.name == "avg price"  # type: ignore[union-attr]
    assert e.leaf_coords("Sales", [("p0", "m0", "Price")]).tolist() == [[3, 1, 1]]
    node = trace(e, "Sales", (0, 0, 1), depth=1)
    assert node.kind == "rule" and node.rule == "avg price"
    assert {c.coord for c in node.children} == {(0, 0, 2), (0, 0, 0)}


@pytest.mark.parametrize(
    "rules, message",
    [
        (
            [RuleDef("p", "Price", "=PREV(Price)", level="consolidated")],
            "PREV, NEXT, PERIOD and YTD",
        ),
        (
            [
                RuleDef("avg", "Price", "=Revenue / Units", level="consolidated"),
                RuleDef("avg2", "Price", "=Revenue", {"Product": ["F2"]}, "consolidated"),
            ],
            "both compute some cells",
        ),
        (
            [
                RuleDef("avg", "Price", "=Revenue / Units", level="consolidated"),
                RuleDef("m", "Margin", '=Units * DB("Sales", "All", "Price")'),
            ],
            "reads totals of 'Price' that the consolidated rule 'avg'",
        ),
        ([RuleDef("x", "Price", "=Units", level="sometimes")], "level 'sometimes'"),
    ],
    ids=["time function", "overlap", "leaf reads a consolidated rule", "unknown level"],
)
def test_bad_consolidated_rules_are_refused(rules: list[RuleDef], message: str) -> None:
    e = priced([])
    with pytest.raises(RuleSyntaxError, match=message):
        e.set_rules({"Sales": rules})


def test_a_leaf_rule_and_a_consolidated_rule_share_a_target() -> None:
    rules = [
        RuleDef("leaf price", "Price", "=Units / 10", {"Product": ["F2"]}),
        RuleDef("avg price", "Price", "=Revenue / Units", level="consolidated"),
        RuleDef("revenue", "Revenue", "=Units * Price"),
    ]
    e = priced(rules)
    v = e.cube("Sales").values
    assert v[5, 1, 1] == pytest.approx(v[5, 1, 0] / 10)
    assert v[2, 0, 1] == pytest.approx(expected_price(e, [5, 6], [1, 2, 3]))
    put(e, "Sales", (5, 1, 0), 40.0)  # moves the leaf price, the revenue and every total above
    incremental = v.copy()
    e.recalc()
    np.testing.assert_allclose(incremental, e.cube("Sales").values, rtol=1e-12)


# -- DB() through a text attribute: stores priced in their own currency ------------------------

STORES = ["Berlin", "Paris", "Boston", "Nowhere"]
CURRENCY = {"Berlin": "EUR", "Paris": "EUR", "Boston": "USD", "Nowhere": None}


def fx(currency: dict[str, str | None] | None = None) -> Engine:
    """Sales [Store, Month, Measure] in local currency; FX [Currency, Month, Rate] to EUR."""
    e = Engine()
    e.set_dimension(
        Hierarchy("Store", ["All Stores", *STORES], [Edge("All Stores", s) for s in STORES])
    )
    e.set_dimension(Hierarchy("Month", ["FY", *MONTHS], [Edge("FY", m) for m in MONTHS]))
    e.set_dimension(Hierarchy("Measure", ["Amount", "Amount EUR"]))
    e.set_dimension(
        Hierarchy(
            "Currency",
            ["Basket", "EUR", "USD", "GBP"],
            [Edge("Basket", "EUR"), Edge("Basket", "USD")],
        )
    )
    e.set_dimension(Hierarchy("FXMeasure", ["Rate"]))
    table = CURRENCY if currency is None else currency
    e.attributes["Store"] = {
        "Currency": np.array([None, *(table[s] for s in STORES)], dtype=object),
        "Size": np.array([np.nan, 1.0, 2.0, 3.0, 4.0]),
    }
    e.add_cube("Sales", ["Store", "Month", "Measure"], measure="Measure", time="Month")
    e.add_cube("FX", ["Currency", "Month", "FXMeasure"], measure="FXMeasure")
    for s in range(1, 5):
        for m in range(1, 4):
            put(e, "Sales", (s, m, 0), 100.0 * s + m)
    for m in range(1, 4):
        put(e, "FX", (1, m, 0), 1.0)  # EUR
        put(e, "FX", (2, m, 0), 0.9 + m / 100)  # USD
    e.set_rules(
        {
            "Sales": [
                RuleDef(
                    "eur", "Amount EUR", '=Amount * DB("FX", ATTR("Store", "Currency"), "Rate")'
                )
            ]
        }
    )
    return e


def test_db_finds_the_other_cubes_element_through_a_text_attribute() -> None:
    e = fx()
    v = e.cube("Sales").values
    assert v[1, 2, 1] == pytest.approx(v[1, 2, 0] * 1.0)  # Berlin, EUR
    assert v[3, 2, 1] == pytest.approx(v[3, 2, 0] * 0.92)  # Boston, USD in m1
    assert np.isnan(v[4, 2, 1]) and e.cube("Sales").errors[(4, 2, 1)] == ErrorCode.NA
    assert np.isnan(v[0, 0, 1])  # the total shows the store whose currency is unset


def test_an_fx_edit_reaches_exactly_the_stores_in_that_currency() -> None:
    e = fx({**CURRENCY, "Nowhere": "GBP"})
    before = e.cube("Sales").values.copy()
    put(e, "FX", (2, 3, 0), 2.0)  # USD in m2
    after = e.cube("Sales").values
    changed = {tuple(int(x) for x in c) for c in np.argwhere(after != before)}
    assert changed == {(3, 3, 1), (0, 3, 1), (3, 0, 1), (0, 0, 1)}  # Boston m2 and its totals
    incremental = after.copy()
    e.recalc()
    np.testing.assert_allclose(incremental, e.cube("Sales").values, rtol=1e-12)


def test_an_attribute_may_name_a_total_of_the_other_dimension() -> None:
    e = fx({**CURRENCY, "Nowhere": "Basket"})
    v = e.cube("Sales").values
    assert v[4, 1, 1] == pytest.approx(v[4, 1, 0] * (1.0 + 0.91))
    put(e, "FX", (1, 1, 0), 3.0)  # EUR in m0 moves the Basket total Nowhere reads
    assert v[4, 1, 1] == pytest.approx(v[4, 1, 0] * (3.0 + 0.91))
    assert trace(e, "Sales", (4, 1, 1), depth=1).children[-1].coord == (0, 1, 0)


@pytest.mark.parametrize(
    "formula, message",
    [
        ('=DB("FX", ATTR("Store", "Size"), "Rate")', "no text attribute 'Size'"),
        ('=DB("FX", ATTR("Store", "Colour"), "Rate")', "no text attribute 'Colour'"),
        ('=DB("FX", ATTR("Region", "Currency"), "Rate")', "has no dimension 'Region'"),
        ('=ATTR("Store", "Currency")', "is a text attribute"),
        ('=DB("FX", "Rate")', "needs an element of 'Currency'"),
    ],
)
def test_bad_lookups_name_the_problem(formula: str, message: str) -> None:
    e = fx()
    with pytest.raises(RuleSyntaxError, match=message):
        e.set_rules({"Sales": [RuleDef("eur", "Amount EUR", formula)]})


def test_an_attribute_naming_unknown_elements_is_refused_with_examples() -> None:
    with pytest.raises(RuleSyntaxError, match="'CHF'"):
        fx({**CURRENCY, "Nowhere": "CHF"})


def test_a_share_of_the_grand_total_follows_an_edit_in_another_family() -> None:
    """A consolidated rule reading its own cube at a fixed total is redone over its whole area:
    an edit under F1 moves the grand total, so F2's share changes too."""
    share = RuleDef(
        "share", "Margin %", '=Units / DB("Sales", "All", "Units")', level="consolidated"
    )
    e = priced([*LEAF_RULES, share])
    v = e.cube("Sales").values
    put(e, "Sales", (3, 1, 0), 500.0)  # p0 in m0, under F1
    f2 = v[2, 1, 0] / v[0, 1, 0]
    assert v[2, 1, 4] == pytest.approx(f2)
    incremental = v.copy()
    e.recalc()
    np.testing.assert_allclose(e.cube("Sales").values, incremental, rtol=1e-12)
