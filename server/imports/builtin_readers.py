"""The built-in readers — CSV, XLSX, Parquet — registered as a plugin like any other.

``server.plugins.manager`` registers this module first; a third-party reader is registered the
same way from its package's entry point (docs/plugins.md), so every format reaches imports
through the one dispatch in ``server.imports.read.read``.
"""

from __future__ import annotations

from server.imports import read
from server.plugins import Reader, hookimpl

CSV = Reader(
    name="csv",
    media_types=("text/csv",),
    read=read.read_csv,
    options=frozenset({"delimiter", "encoding"}),
    suffixes=(".csv", ".txt", ".tsv"),
    description="text with a header row; delimiter sniffed, UTF-8 or cp1252",
)
XLSX = Reader(
    name="xlsx",
    media_types=("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
    read=read.read_xlsx,
    options=frozenset({"sheet"}),
    suffixes=(".xlsx",),
    description="an Excel workbook's first sheet (or `sheet`), its header in row 1",
)
PARQUET = Reader(
    name="parquet",
    media_types=("application/vnd.apache.parquet",),
    read=read.read_parquet,
    suffixes=(".parquet",),
    description="Apache Parquet, as typed",
)


@hookimpl
def plancube_readers() -> list[Reader]:
    return [CSV, XLSX, PARQUET]
