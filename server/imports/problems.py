"""What is wrong with an import, row by row: a report kept as columns, rendered on demand.

A file of a million bad rows must not become a million dicts: problems are collected as arrays
(file row, column, value, reason, detail) per check and only the first few become JSON; the whole
report is written as CSV by Arrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

REASONS = {
    "unknown_element": "no such element (nor alias) in the dimension",
    "consolidated": "a consolidated element: only leaves hold data",
    "not_a_number": "the cell is numeric; the value is not a number",
    "too_large": "larger than a cell may hold",
    "not_writable": "element security: the user may not write this cell",
    "rule_cell": "a rule computes this cell; it is not an input",
    "duplicate": "the file writes this cell again (mode accumulate sums numbers)",
    "missing_column": "the mapping names a column the file does not have",
}


@dataclass
class Problems:
    """Problems found so far, as columns. ``rows`` are 1-based file rows (the header is row 1)."""

    parts: list[pa.Table] = field(default_factory=list)

    def add(
        self,
        rows: np.ndarray,
        column: str | pa.Array,
        values: pa.Array | list[Any],
        reason: str,
        detail: pa.Array | list[str] | str = "",
    ) -> None:
        n = len(rows)
        if n == 0:
            return
        cols = pa.array([column] * n, pa.string()) if isinstance(column, str) else column
        det = pa.array([detail] * n, pa.string()) if isinstance(detail, str) else detail
        vals = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
        self.parts.append(
            pa.table(
                {
                    "row": pa.array(np.asarray(rows, dtype=np.int64)),
                    "column": cols.cast(pa.string()),
                    "value": vals.cast(pa.string()),
                    "reason": pa.array([reason] * n, pa.string()),
                    "detail": pa.array(det, pa.string()),
                }
            )
        )

    @property
    def count(self) -> int:
        return sum(len(t) for t in self.parts)

    def rows(self) -> np.ndarray:
        """File rows that have a problem (each once)."""
        if not self.parts:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate([t["row"].to_numpy() for t in self.parts]))

    def table(self) -> pa.Table:
        if not self.parts:
            return pa.table(
                {k: pa.array([], pa.int64() if k == "row" else pa.string()) for k in _COLUMNS}
            )
        t = pa.concat_tables(self.parts)
        return t.take(pa.array(np.argsort(t["row"].to_numpy(), kind="stable")))

    def first(self, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.table().slice(0, n).to_pylist()
        return out

    def csv(self) -> bytes:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(self.table(), sink)
        return bytes(sink.getvalue().to_pybytes())


_COLUMNS = ("row", "column", "value", "reason", "detail")
