"""What a connector type is: a name, a pydantic config model, and a ``pull``.

A *connector type* (REST, SQL, or a plugin's) knows how to fetch rows from one kind of source.
A *connector* is one configured instance of a type in a model (``server.services.connectors``):
its config, the secrets it refers to by name, the cube and ``LoadSpec`` its rows load through,
a schedule, and the watermark its last committed run reached.

``pull(config, secrets, watermark)`` returns a ``Pull``: the rows as an iterator of Arrow record
batches, and the new watermark — a callable, because the highest watermark value is known only
once every batch has been read. The caller reads every batch first and asks for the watermark
after; the watermark is stored only once the rows are committed, so a failed run is retried
from where the last good one ended.

``secrets`` maps the connector's secret names to their values, resolved when first read
(``server.connector_secrets``): a type reads only the names its config names, and a value must
never reach a log line or an error message (the caller redacts them from what it records).
A pull that cannot finish raises ``PullFailed`` with a message for the run's history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

Watermark = str | int | float | None


class PullFailed(Exception):
    """The source could not be read (after the retries the type makes)."""


class Pull(NamedTuple):
    batches: Iterator[pa.RecordBatch]
    watermark: Callable[[], Watermark]  # the new watermark, once every batch is read


PullFunction = Callable[[Any, Mapping[str, str], Watermark], Pull]


@dataclass(frozen=True)
class ConnectorType:
    name: str
    config: type[BaseModel]
    pull: PullFunction
    description: str = ""


def _array(values: list[Any]) -> pa.Array:
    """Values as one Arrow array: numbers stay numbers; a mix Arrow cannot type as one kind
    (numbers and text) is text. Decimals (a SQL NUMERIC) become float64, what a cell holds,
    so that batches agree whatever precision each one's values happen to need."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_decimal(array.type):
        array = array.cast(pa.float64())
    return array


def column_batch(
    values: list[list[Any]] | list[tuple[Any, ...]], names: list[str]
) -> pa.RecordBatch:
    """Columns of values (one list per name) as one record batch."""
    return pa.RecordBatch.from_arrays([_array(list(v)) for v in values], names=names)


def record_batch(rows: list[dict[str, Any]], columns: list[str]) -> pa.RecordBatch:
    """Rows (dicts) as one record batch with these columns."""
    return column_batch([[r.get(c) for r in rows] for c in columns], columns)


def highest(current: Watermark, column: pa.Array | pa.ChunkedArray) -> Watermark:
    """The larger of the watermark so far and a column's highest value (as JSON can hold
    it: a time becomes ISO-8601 text)."""
    if len(column) == 0 or column.null_count == len(column):
        return current
    top = pc.max(column).as_py()
    if hasattr(top, "isoformat"):
        top = top.isoformat()
    elif not isinstance(top, str | int | float):
        top = str(top)
    if current is None:
        return top
    try:
        return top if top > current else current
    except TypeError:  # a number against text: compare as text
        return top if str(top) > str(current) else current
