"""A view's answer as lines of a sheet: row headers, then one value per column member.

Formula injection: a spreadsheet runs a cell whose text starts with ``=``, ``+``, ``-`` or
``@`` as a formula (and a tab or a carriage return can hide such a start), so an element name
or a text cell written as ``=HYPERLINK("http://evil", "click")`` would become a live link in
whoever opens the file. Every such text — header or cell — gets a leading single quote, as
OWASP's CSV-injection guidance says; the quote shows in the cell, and nothing runs. Numbers
are never text, so a negative number stays a number.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMN_SEPARATOR = " / "  # between the elements of a header over several column dimensions

Value = float | str | None


def neutralise(text: str) -> str:
    """A text a spreadsheet will show, not run.

    >>> neutralise('=HYPERLINK("http://x")')
    '\\'=HYPERLINK("http://x")'
    >>> neutralise("-2+3"), neutralise("Rent")
    ("'-2+3", 'Rent')
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True, slots=True)
class Row:
    elements: list[str]  # one per row dimension, neutralised
    depth: int  # tree depth of the innermost row member
    values: list[Value]  # one per column; text neutralised


@dataclass
class Grid:
    """What an export writes: one header line, then the rows."""

    cube: str
    row_dimensions: list[str]
    column_dimensions: list[str]
    columns: list[list[str]]  # per column, its elements (raw: Parquet keeps them as they are)
    answer: dict[str, Any]

    @classmethod
    def of(cls, answer: dict[str, Any]) -> Grid:
        return cls(
            cube=answer["cube"],
            row_dimensions=list(answer["row_dimensions"]),
            column_dimensions=list(answer["column_dimensions"]),
            columns=[list(h["elements"]) for h in answer["columns"]],
            answer=answer,
        )

    @property
    def header(self) -> list[str]:
        names = [COLUMN_SEPARATOR.join(c) for c in self.columns]
        return [neutralise(t) for t in [*self.row_dimensions, *names]]

    def rows(self) -> Iterator[Row]:
        values = self.answer["values"]
        for i, h in enumerate(self.answer["rows"]):
            line = values[i]
            yield Row(
                elements=[neutralise(e) for e in h["elements"]],
                depth=int(h["depth"]),
                values=[
                    _cell(v) for v in (line.tolist() if isinstance(line, np.ndarray) else line)
                ],
            )

    def raw(self) -> Iterator[tuple[list[str], list[Value]]]:
        """Rows as the view has them, nothing neutralised (for Parquet, which no spreadsheet
        runs)."""
        values = self.answer["values"]
        for i, h in enumerate(self.answer["rows"]):
            line = values[i]
            items = line.tolist() if isinstance(line, np.ndarray) else line
            yield list(h["elements"]), [_number_or_text(v) for v in items]


def _number_or_text(v: Any) -> Value:
    if v is None or isinstance(v, str):
        return v
    return float(v)


def _cell(v: Any) -> Value:
    v = _number_or_text(v)
    return neutralise(v) if isinstance(v, str) else v
