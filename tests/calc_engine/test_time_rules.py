"""Rules along time beside other rules: openings, running sums split by area, YTD in an area,
and error codes carried through references."""

from __future__ import annotations

import numpy as np
import pytest

from calc_engine import Edge, Engine, Hierarchy
from calc_engine.compile import RuleDef
from calc_engine.errors import RuleCycleError, RuleSyntaxError
from calc_engine.functions import ErrorCode

MONTHS = ["m0", "m1", "m2", "m3"]


def cash(rules: list[RuleDef], versions: tuple[str, ...] = ("Actual",)) -> Engine:
    """Version x Month (FY > m0..m3, time) x Measure {In, Flow, Cash, Ratio}."""
    e = Engine()
    e.set_dimension(Hierarchy("Version", list(versions)))
    e.set_dimension(Hierarchy("Month", ["FY", *MONTHS], [Edge("FY", m) for m in MONTHS]))
    e.set_dimension(Hierarchy("Measure", ["In", "Flow", "Cash", "Ratio"]))
    e.add_cube("C", ["Version", "Month", "Measure"], measure="Measure", time="Month")
    for v in range(len(versions)):
        put(e, (v, 1, 0), 100.0 * (v + 1))  # In at m0
        for m in range(1, 5):
            put(e, (v, m, 1), float(m))  # Flow 1, 2, 3, 4
    e.set_rules({"C": rules})
    return e


def put(e: Engine, coord: tuple[int, ...], value: float) -> None:
    e.write("C", np.array([coord]), np.array([value]), {})


def cash_row(e: Engine, version: int = 0) -> list[float]:
    return e.cube("C").values[version, 1:, 2].tolist()


OPENING = RuleDef("opening", "Cash", "=In", where={"Month": ["m0"]})
CARRY = RuleDef("carry", "Cash", "=PREV(Cash) + Flow", where={"Month": ["m1", "m2", "m3"]})


@pytest.mark.parametrize("rules", [[CARRY, OPENING], [OPENING, CARRY]])
def test_a_running_sum_starts_from_the_rule_that_computes_its_opening(
    rules: list[RuleDef],
) -> None:
    """Listed in either order, the carry runs after the opening rule whose cell it reads."""
    e = cash(rules)
    assert cash_row(e) == [100.0, 102.0, 105.0, 109.0]
    assert e.cube("C").values[0, 0, 2] == 416.0  # FY total of Cash
    put(e, (0, 1, 0), 10.0)  # In at m0 moves the opening and every later period
    assert cash_row(e) == [10.0, 12.0, 15.0, 19.0]
    assert e.cube("C").values[0, 0, 2] == 56.0
    put(e, (0, 3, 1), 0.0)  # Flow at m2: from there on
    assert cash_row(e) == [10.0, 12.0, 12.0, 16.0]


def test_running_sums_on_separate_versions_do_not_depend_on_each_other() -> None:
    """Two rules reading their own target back in time, in areas that never meet: no loop."""
    plan = RuleDef("plan", "Cash", "=PREV(Cash) + 2 * Flow", where={"Version": ["Plan"]})
    actual = RuleDef("actual", "Cash", "=PREV(Cash) + Flow", where={"Version": ["Actual"]})
    e = cash([plan, actual], versions=("Actual", "Plan"))
    assert cash_row(e, 0) == [1.0, 3.0, 6.0, 10.0]
    assert cash_row(e, 1) == [2.0, 6.0, 12.0, 20.0]
    put(e, (1, 2, 1), 5.0)
    assert cash_row(e, 0) == [1.0, 3.0, 6.0, 10.0]
    assert cash_row(e, 1) == [2.0, 12.0, 18.0, 26.0]


def test_running_sums_taking_turns_along_time_are_a_loop_naming_both() -> None:
    """Each reads the other's previous period: no order exists between the two rules."""
    odd = RuleDef("odd", "Cash", "=PREV(Cash) + Flow", where={"Month": ["m1", "m3"]})
    even = RuleDef("even", "Cash", "=PREV(Cash) * 2", where={"Month": ["m0", "m2"]})
    e = cash([])
    with pytest.raises(RuleCycleError) as exc:
        e.set_rules({"C": [odd, even]})
    assert set(exc.value.rules) == {"odd", "even"}
    assert not e.rules.compiled


def test_ytd_in_a_narrowed_area_follows_edits_before_the_area() -> None:
    rule = RuleDef("ytd", "Ratio", "=YTD(Flow)", where={"Month": ["m2", "m3"]})
    e = cash([rule])
    v = e.cube("C").values
    assert v[0, 1:, 3].tolist() == [0.0, 0.0, 6.0, 10.0]
    put(e, (0, 1, 1), 11.0)  # m0 is outside the area, but inside every YTD of it
    assert v[0, 1:, 3].tolist() == [0.0, 0.0, 16.0, 20.0]


def test_an_error_read_by_another_rule_stays_the_same_error() -> None:
    """As in Excel, =A1+1 over a #DIV/0! cell is #DIV/0!, not some other error."""
    rules = [
        RuleDef("ratio", "Ratio", "=Flow / In"),
        RuleDef("cash", "Cash", "=Ratio + 1"),
    ]
    e = cash(rules)
    errors = e.cube("C").errors
    assert errors.get((0, 2, 3)) == ErrorCode.DIV0  # In is empty at m1
    assert errors.get((0, 2, 2)) == ErrorCode.DIV0
    assert e.cube("C").values[0, 1, 2] == 1.01
    put(e, (0, 2, 0), 4.0)  # In at m1 heals both cells
    assert errors.get((0, 2, 3)) is None and errors.get((0, 2, 2)) is None
    assert e.cube("C").values[0, 2, 2] == 1.5


def test_a_running_sum_keeps_its_error_after_an_edit_past_it() -> None:
    """The first error of the flow carries down the sum, in a full recalc and after an edit
    that re-sums from a later period (its opening is an error cell read back)."""
    e = cash([RuleDef("cash", "Cash", "=PREV(Cash) + 12 / Flow")])
    put(e, (0, 1, 1), 0.0)  # Flow at m0: #DIV/0! from m0 on
    errors = e.cube("C").errors
    full = {(0, m, 2): ErrorCode.DIV0 for m in (1, 2, 3, 4)}
    assert dict(errors.items()) == full
    put(e, (0, 3, 1), 6.0)  # a flow after the first error
    assert dict(errors.items()) == full
    put(e, (0, 1, 1), 4.0)  # the first flow heals: the sum is numbers again
    assert not errors and cash_row(e) == [3.0, 9.0, 11.0, 14.0]


def test_a_rule_reading_its_target_through_a_total_of_measures_is_a_loop() -> None:
    """PREV of a consolidated measure holding the target is not a plain running sum: refused."""
    e = Engine()
    e.set_dimension(Hierarchy("Month", MONTHS))
    e.set_dimension(
        Hierarchy("Measure", ["In", "Cash", "Tot"], [Edge("Tot", "In"), Edge("Tot", "Cash")])
    )
    e.add_cube("C", ["Month", "Measure"], measure="Measure", time="Month")
    with pytest.raises(RuleCycleError):
        e.set_rules({"C": [RuleDef("r", "Cash", "=PREV(Tot) + 1")]})


def test_a_year_to_date_of_earlier_periods_runs_after_their_rule() -> None:
    late = RuleDef("late", "Cash", "=YTD(PREV(Cash)) + Flow", where={"Month": ["m2", "m3"]})
    e = cash([late, OPENING])
    assert cash_row(e) == [100.0, 0.0, 103.0, 207.0]
    put(e, (0, 1, 0), 10.0)
    assert cash_row(e) == [10.0, 0.0, 13.0, 27.0]


def test_a_later_year_to_date_follows_an_edit_of_the_first_period() -> None:
    e = cash([RuleDef("ahead", "Ratio", "=NEXT(YTD(Flow))")])
    v = e.cube("C").values
    assert v[0, 1:, 3].tolist() == [3.0, 6.0, 10.0, 0.0]
    put(e, (0, 1, 1), 100.0)
    assert v[0, 1:, 3].tolist() == [102.0, 105.0, 109.0, 0.0]


def test_a_total_over_error_leaves_reads_as_the_first_error() -> None:
    """Excel's SUM over a range with #DIV/0! is #DIV/0!; IFERROR catches it."""
    rules = [
        RuleDef("ratio", "Ratio", "=Flow / In"),  # In is empty after m0: #DIV/0!
        RuleDef("fy", "Cash", '=DB("C", "FY", "Ratio") + 1', where={"Month": ["m0", "m1"]}),
        RuleDef(
            "caught", "Cash", '=IFERROR(DB("C", "FY", "Ratio"), -1)', where={"Month": ["m2", "m3"]}
        ),
    ]
    e = cash(rules)
    errors = e.cube("C").errors
    assert errors.get((0, 1, 2)) == ErrorCode.DIV0 and errors.get((0, 2, 2)) == ErrorCode.DIV0
    assert cash_row(e)[2:] == [-1.0, -1.0]
    for m in (2, 3, 4):
        put(e, (0, m, 0), 1.0)  # every In set: the total is a number again
    assert not errors
    assert cash_row(e) == pytest.approx([1 + 0.01 + 9, 1 + 0.01 + 9, 0.01 + 9, 0.01 + 9])


def test_year_to_date_keeps_the_first_error_of_the_year() -> None:
    rules = [
        RuleDef("ratio", "Ratio", "=IF(Flow = 1, 1 / 0, (-8) ^ (1 / 3))"),  # #DIV/0!, then #NUM!
        RuleDef("ytd", "Cash", "=YTD(Ratio)"),
    ]
    e = cash(rules)
    errors = e.cube("C").errors
    assert [errors.get((0, m, 3)) for m in (1, 2)] == [ErrorCode.DIV0, ErrorCode.NUM]
    assert [errors.get((0, m, 2)) for m in (1, 2, 3, 4)] == [ErrorCode.DIV0] * 4


def test_a_dimension_change_keeps_the_inputs_of_a_model_with_rules() -> None:
    e = cash([OPENING, CARRY])
    e.set_dimension(Hierarchy("Measure", ["New", "In", "Flow", "Cash", "Ratio"]))
    v = e.cube("C").values
    assert v[0, 1:, 2].tolist() == [1.0, 2.0, 3.0, 4.0]  # Flow, now at position 2
    assert v[0, 1:, 3].tolist() == [100.0, 102.0, 105.0, 109.0]
    carry = cash([CARRY])  # where m1, m2, m3: positions that move when m0 goes
    carry.set_dimension(
        Hierarchy("Month", ["FY", *MONTHS[1:]], [Edge("FY", m) for m in MONTHS[1:]])
    )
    v = carry.cube("C").values
    assert v[0, 1:, 1].tolist() == [2.0, 3.0, 4.0]  # Flow kept by name
    assert v[0, 1:, 2].tolist() == [2.0, 5.0, 9.0]  # Cash from an empty opening


def test_reading_the_own_target_at_a_total_back_in_time_is_refused() -> None:
    """Totals are summed after a rule runs, so one read back inside it would be stale."""
    e = cash([], versions=("A", "B"))
    with pytest.raises(RuleSyntaxError, match="at a total in an earlier period"):
        e.set_rules({"C": [RuleDef("r", "Cash", '=PREV(DB("C", "FY", "Cash")) + Flow')]})
    e.set_rules({"C": [RuleDef("r", "Cash", '=PREV(DB("C", "A", "Cash")) + Flow')]})  # a leaf
    assert cash_row(e, 0) == cash_row(e, 1) == [1.0, 3.0, 6.0, 10.0]
    put(e, (0, 1, 1), 5.0)  # Flow of A at m0: A's sum, and B's from m1 on (it reads A's)
    assert cash_row(e, 0) == [5.0, 7.0, 10.0, 14.0]
    assert cash_row(e, 1) == [1.0, 7.0, 10.0, 14.0]


# -- one target, several areas: a plan from the actuals ------------------------------------------

PLAN = RuleDef("plan", "Cash", '=DB("C", "Actual", "Cash") * 1.5', where={"Version": ["Plan"]})


def test_a_rule_may_read_its_own_target_in_another_area() -> None:
    """Plan = Actual * 1.5 on the same measure is no loop: it reads cells outside its area."""
    e = cash([PLAN], versions=("Actual", "Plan"))
    put(e, (0, 2, 2), 10.0)  # Cash Actual m1 is an input
    assert cash_row(e, 1) == [0.0, 15.0, 0.0, 0.0]
    put(e, (0, 2, 2), 20.0)
    assert cash_row(e, 1) == [0.0, 30.0, 0.0, 0.0]


def test_a_plan_from_actuals_a_rule_computes_runs_after_that_rule() -> None:
    actual = RuleDef("actual", "Cash", "=PREV(Cash) + Flow", where={"Version": ["Actual"]})
    e = cash([PLAN, actual], versions=("Actual", "Plan"))
    assert cash_row(e, 0) == [1.0, 3.0, 6.0, 10.0]
    assert cash_row(e, 1) == [1.5, 4.5, 9.0, 15.0]
    put(e, (0, 2, 1), 12.0)  # Flow of Actual at m1
    assert cash_row(e, 1) == [1.5, 19.5, 24.0, 30.0]


@pytest.mark.parametrize(
    "formula",
    ['=DB("C", "Plan", "Cash") + 1', "=NEXT(Cash)", '=PREV(DB("C", "m2", "Cash"))'],
)
def test_a_rule_reading_its_own_cells_is_a_loop(formula: str) -> None:
    e = cash([], versions=("Actual", "Plan"))
    with pytest.raises(RuleCycleError) as exc:
        e.set_rules({"C": [RuleDef("self", "Cash", formula, where={"Version": ["Plan"]})]})
    assert set(exc.value.rules) == {"self"}
