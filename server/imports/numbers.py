"""Numbers as a file's locale writes them, parsed as whole columns.

``1.234,5`` (decimal comma, dot thousands), ``1,234.5``, ``1 234,5``, ``(12)`` for -12 and
``12%`` for 0.12: the text is cleaned with Arrow string kernels (thousands separators out, the
decimal separator made a dot, parentheses and percent signs noted), checked against one pattern
and only then cast, so a bad value is a null with its position known, not an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from server.errors import InvalidValue

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
THOUSANDS = {"none": "", "comma": ",", "dot": ".", "space": " ", "apostrophe": "'"}


@dataclass(frozen=True, slots=True)
class Locale:
    decimal: str = "."  # "." or ","
    thousands: str = ""  # one of THOUSANDS' values

    def __post_init__(self) -> None:
        if self.decimal not in (".", ","):
            raise InvalidValue("the decimal separator is '.' or ','", decimal=self.decimal)
        if self.thousands == self.decimal:
            raise InvalidValue(
                f"the thousands separator cannot be the decimal separator ({self.decimal!r})",
                decimal=self.decimal,
                thousands=self.thousands,
            )


def parse(values: pa.Array, locale: Locale) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, blank, bad): float64 per value (NaN where blank or bad), which values were
    empty, and which were text that is not a number."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        num = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        blank = pc.is_null(values).to_numpy(zero_copy_only=False)
        return np.where(blank, np.nan, num), blank, np.zeros(len(values), dtype=bool)
    if pa.types.is_boolean(values.type):
        values = pc.cast(values, pa.string())
    quick = _plain(values, locale)
    if quick is not None:
        return quick
    text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    blank = _bools(pc.fill_null(pc.equal(text, ""), True))
    # (1.5) is -1.5 and 1.5- too (some ERPs); % divides by a hundred
    paren = pc.fill_null(pc.match_substring_regex(text, r"^\(.*\)$"), False)
    text = pc.if_else(paren, pc.utf8_slice_codeunits(text, 1, -1), text)
    trailing = pc.fill_null(pc.match_substring_regex(text, r"^[^-]+-$"), False)
    text = pc.if_else(trailing, pc.utf8_slice_codeunits(text, 0, -1), text)
    percent = pc.fill_null(pc.ends_with(text, "%"), False)
    text = pc.if_else(percent, pc.utf8_slice_codeunits(text, 0, -1), text)
    text = pc.utf8_trim_whitespace(text)
    if locale.thousands:
        # a thousands separator only in groups of three digits ("1.234.567,5"): "2.5" or
        # "12.34.5" with dot thousands is not a number, never 25 or 12345; a space also as the
        # no-break spaces spreadsheets write
        seps = re.escape(locale.thousands) + ("\u00a0\u202f" if locale.thousands == " " else "")
        has_sep = pc.fill_null(pc.match_substring_regex(text, f"[{seps}]"), False)
        dec = re.escape(locale.decimal)
        groups = rf"^[+-]?\d{{1,3}}([{seps}]\d{{3}})+({dec}\d*)?$"
        grouped = pc.fill_null(pc.match_substring_regex(text, groups), False)
        misplaced = pc.and_(has_sep, pc.invert(grouped))
        text = pc.replace_substring_regex(text, f"[{seps}]", "")
        text = pc.if_else(misplaced, pa.scalar("?", pa.string()), text)
    if locale.decimal == ",":
        # with a decimal comma a dot is a thousands separator or a mistake, never a decimal
        # point: "1.250" is 1250 only where dot thousands say so, else it is refused
        stray = pc.fill_null(pc.match_substring(text, "."), False)
        text = pc.if_else(stray, pa.scalar("?", pa.string()), text)
        text = pc.replace_substring(text, ",", ".")
    ok = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    num = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
    out = pc.fill_null(num, np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
    negative = _bools(paren) | _bools(trailing)
    sign = np.where(negative, -1.0, 1.0)
    scale = np.where(_bools(percent), 0.01, 1.0)
    bad = ~_bools(ok) & ~blank
    return out * sign * scale, blank, bad


def _plain(values: pa.Array, locale: Locale) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A column of plain numbers (``1234.5``, ``-3``, ``1e3``; with a decimal comma ``1234,5``)
    cast in one Arrow kernel; None when any value needs the full parse (a blank, spaces,
    separators, a sign the cast does not take, text) or is not finite."""
    if locale.thousands or (
        not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type)
    ):
        return None
    if values.null_count:
        return None
    other = "." if locale.decimal == "," else ","  # in a plain number, only the decimal sign
    if pc.any(pc.match_substring(values, other)).as_py():
        return None
    text = pc.replace_substring(values, ",", ".") if locale.decimal == "," else values
    try:
        num = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    num = np.asarray(num, dtype=np.float64)
    if not np.isfinite(num).all():
        return None  # "inf", "nan" or past the float range: the full parse says which
    none = np.zeros(len(num), dtype=bool)
    return num, none, none.copy()


def _bools(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False), dtype=bool)
