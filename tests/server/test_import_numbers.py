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
    (["1.5", "2"], Locale(",")),  # a dot with a decimal comma: refused, never 1.5
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


@pytest.mark.parametrize(
    ("locale", "text", "value"),
    [
        (Locale(",", "."), "1.250,5", 1250.5),
        (Locale(",", "."), "1.234.567,89", 1234567.89),
        (Locale(",", "."), "-1.000", -1000.0),
        (Locale(",", "."), "(1.200)", -1200.0),
        (Locale(",", "."), "2.5", None),  # not 25: a thousands dot comes in groups of three
        (Locale(",", "."), "1.23,4", None),  # not 123.4
        (Locale(",", "."), "12.34.5", None),  # not 12345
        (Locale(","), "1.250", None),  # a German 1.250 is not 1.25: refused without thousands
        (Locale(","), "2.5", None),
        (Locale(".", ","), "1,234,567.5", 1234567.5),
        (Locale(".", ","), "12,34", None),
        (Locale(), "1,250", None),
        (Locale(",", " "), "1\u00a0234,5", 1234.5),
        (Locale(".", "'"), "12'34", None),
    ],
)
def test_separators_must_sit_where_the_locale_puts_them(
    locale: Locale, text: str, value: float | None
) -> None:
    num, _, bad = parse(pa.array([text]), locale)
    if value is None:
        assert bad.tolist() == [True] and np.isnan(num[0]), f"{text!r} read as {num[0]}"
    else:
        assert not bad[0] and num[0] == pytest.approx(value)
