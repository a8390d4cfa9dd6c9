"""Numbers in a file's locale (``server.imports.numbers``): a column of plain numbers takes one
Arrow cast, anything else the full parse, and the two agree wherever the cast answers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from server.imports import numbers
from server.imports.numbers import Locale, parse

CASES = [
    (["1", "2.5", "-3", "1e3", ".5", "5.", "+7", "0"], Locale()),
    (["1,5", "2", "-0,25", "3e2"], Locale(",")),
    (["1.5", "2"], Locale(",")),  # a dot still reads as the decimal point without thousands
]
FULL_ONLY = [
    (["1,5"], Locale()),  # a comma in a dot locale: text, not 15
    (["nan"], Locale()),
    (["inf", "1"], Locale()),
    (["1e400"], Locale()),
    ([""], Locale()),
    ([" 5"], Locale()),
    (["(12)"], Locale()),
    (["12%"], Locale()),
    (["1.234,5"], Locale(",", ".")),
    (["1 234"], Locale(".", " ")),
    (["abc", "1"], Locale()),
    ([None, "1"], Locale()),
]


def _full(values: pa.Array, locale: Locale) -> tuple[np.ndarray, ...]:
    saved = numbers._plain
    numbers._plain = lambda v, loc: None  # type: ignore[assignment]
    try:
        return parse(values, locale)
    finally:
        numbers._plain = saved


@pytest.mark.parametrize(("values", "locale"), CASES)
def test_a_column_of_plain_numbers_is_cast_at_once_and_agrees(
    values: list[str], locale: Locale
) -> None:
    a = pa.array(values, pa.string())
    assert numbers._plain(a, locale) is not None
    for got, want in zip(parse(a, locale), _full(a, locale), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("values", "locale"), FULL_ONLY)
def test_anything_else_takes_the_full_parse(values: list[str | None], locale: Locale) -> None:
    a = pa.array(values, pa.string())
    assert numbers._plain(a, locale) is None
    for got, want in zip(parse(a, locale), _full(a, locale), strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_full_parse_still_reads_what_the_locale_writes() -> None:
    num, blank, bad = parse(pa.array(["1.234,5", "(2)", "", "x", "50%"]), Locale(",", "."))
    np.testing.assert_array_equal(num[[0, 1, 4]], [1234.5, -2.0, 0.5])
    assert blank.tolist() == [False, False, True, False, False]
    assert bad.tolist() == [False, False, False, True, False]
