"""The rule parser on bad and extreme formulas: every failure a RuleSyntaxError with a position."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calc_engine import Engine, Hierarchy
from calc_engine.compile import RuleDef
from calc_engine.errors import RuleSyntaxError
from calc_engine.parser import MAX_NESTING, parse


@pytest.mark.parametrize(
    ("formula", "position"),
    [("=1)", 2), ("=)", 1), ("1)", 1), ("=SUM(1))+2", 7), ("=(1)) * (2", 4), ("=1}", 2)],
)
def test_a_closer_that_closes_nothing_is_named_at_its_position(formula: str, position: int) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse(formula)
    assert info.value.position == position and "closes nothing" in info.value.reason


def nested(kind: str, depth: int) -> str:
    return {
        "paren": "=" + "(" * depth + "1" + ")" * depth,
        "call": "=" + "ABS(" * depth + "1" + ")" * depth,
        "sign": "=" + "-" * depth + "1",
        "percent": "=1" + "%" * depth,
    }[kind]


@pytest.mark.parametrize("kind", ["paren", "call", "sign", "percent"])
def test_nesting_is_bounded_where_it_starts_to_be_too_deep(kind: str) -> None:
    parse(nested(kind, MAX_NESTING))
    with pytest.raises(RuleSyntaxError, match="nests deeper than 64") as info:
        parse(nested(kind, MAX_NESTING + 1))
    # the opener, sign or percent sign one level too deep
    where = {"paren": 65, "call": 1 + 4 * 64, "sign": 65, "percent": 66}
    assert info.value.position == where[kind]
    with pytest.raises(RuleSyntaxError, match="nests deeper"):
        parse(nested(kind, 5000))


def test_a_number_past_the_float_range_is_refused() -> None:
    with pytest.raises(RuleSyntaxError, match="too large") as info:
        parse("=2 * 1e309")
    assert info.value.position == 5
    parse("=1e308")


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet="=()+-*/^&<>%,;{}[]\"'#!:1aA. \n_", max_size=16))
def test_any_text_parses_or_is_a_rule_syntax_error(text: str) -> None:
    try:
        parse(text)
    except RuleSyntaxError as exc:
        assert 0 <= exc.position <= len(text) + 1


def _deepest() -> str:
    """A formula at the nesting limit with every precedence level inside each level: what
    recurses the most in the parser, the compiler and the kernels. Each repetition nests three
    levels (a call, a sign, a parenthesis); with Units = u it is 7 + (u = u + u * u ^ (...))."""
    reps = MAX_NESTING // 3
    return "=7+" + "ABS(-(Units=Units+Units*Units^" * reps + "1" + "))" * reps


def _engine(formula: str) -> Engine:
    e = Engine()
    e.set_dimension(Hierarchy("P", ["p"]))
    e.set_dimension(Hierarchy("M", ["Units", "Out"]))
    e.add_cube("C", ["P", "M"], measure="M")
    e.set_rules({"C": [RuleDef("out", "Out", formula)]})
    return e


def _under_a_deep_stack(frames: int, run: Callable[[], Any]) -> Any:
    """Run ``run`` with ``frames`` frames already on the stack (a server's, and then some)."""
    if frames == 0:
        return run()
    return _under_a_deep_stack(frames - 1, run)


def test_the_deepest_formula_allowed_compiles_and_evaluates_under_a_server_stack() -> None:
    assert sys.getrecursionlimit() >= 1000
    e = _under_a_deep_stack(150, lambda: _engine(_deepest()))
    assert e.cube("C").values[0, 1] == 8.0  # u = 0: each (0 = 0 + 0 * 0 ^ x) is 1
    _under_a_deep_stack(150, lambda: e.write("C", np.array([[0, 0]]), np.array([2.0]), {}))
    assert e.cube("C").values[0, 1] == 7.0  # u = 2: each (2 = 2 + 2 * 2 ^ x) is 0


def test_a_long_flat_chain_is_no_nesting() -> None:
    e = _engine("=" + "+".join(["Units"] * 3000))
    e.write("C", np.array([[0, 0]]), np.array([2.0]), {})
    assert e.cube("C").values[0, 1] == 6000.0
