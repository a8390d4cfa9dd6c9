"""Strict types for what clients send: numbers that are numbers, flags that are flags, ids that
fit the store.

pydantic's default (lax) mode reads ``true`` as 1.0, ``1.0`` as the id 1 and ``"yes"`` as True,
so a client that slips — a checkbox sent as a cell value, an id from floating-point arithmetic —
would be silently misread. Every number, flag and id in a request body or model file is one of
these instead; a JSON integer is still a number. Path and query parameters arrive as text and
are parsed from it (bounded, not strict).

Bodies themselves are parsed by orjson (``server.api.route``), which refuses what Python's
``json`` lets through: ``NaN`` and ``Infinity``, numbers past the float range, lone surrogates,
nesting deeper than 1,024 levels. ``nul_at`` finds the one character JSON can carry that no
store can keep: NUL (``\u0000``; PostgreSQL text cannot hold it).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, Strict, StrictBool, StrictStr

# \u0000 not itself escaped: an odd number of backslashes before the "u0000"
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


NUL_REFUSED = "a NUL character (\\u0000) is not allowed in text: no store can keep it"


def nul_at(json_text: bytes) -> int | None:
    """Where a JSON text holds a NUL character (the ``\u0000`` escape), or None."""
    if b"u0000" not in json_text:  # the usual case, without the regular expression
        return None
    found = _NUL.search(json_text)
    return None if found is None else found.end() - 6


# Ids live in BIGINT columns (up to 2^63 - 1); the bound is 2^62, as on the id path parameters,
# because the OpenAPI schema writes bounds as floats and 2^63 - 1 would read as 2^63 there.
MAX_ID = 2**62

CommitId = Annotated[int, Strict(), Field(ge=0, le=MAX_ID)]
"""A commit id: a JSON integer from 0 to 2^62."""

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A finite JSON number (integer or not); never a bool or a string."""

Flag = StrictBool
"""``true`` or ``false``, nothing that merely looks like one."""

Text = StrictStr

__all__ = ["MAX_ID", "NUL_REFUSED", "CommitId", "Flag", "Number", "Text", "nul_at"]
