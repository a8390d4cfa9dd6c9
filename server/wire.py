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

Text is bounded too (``server.limits``): whatever a client stores comes back in every read of
it — a 10 MB commit message in every page of the history — so each free-text field has a
length, declared in the OpenAPI schema and refused with 422 naming the field and the limit.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field, Strict, StrictBool, StrictStr
from pydantic_core import PydanticCustomError

from server.limits import MAX_DESCRIPTION, MAX_MESSAGE, MAX_TEXT

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

Text = Annotated[StrictStr, Field(max_length=MAX_TEXT)]
"""Text a cell or an attribute holds: at most 32,767 characters, what one Excel cell holds."""


def _text_within_limit(value: object) -> object:
    # checked before a union (``Number | Text | None``) is tried, so that the refusal names
    # the limit rather than "Input should be a valid number" of the number it also is not
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise PydanticCustomError(
            "string_too_long",
            "a text value has at most {max_length} characters (this one has {length})",
            {"max_length": MAX_TEXT, "length": len(value)},
        )
    return value


TEXT_LIMIT = BeforeValidator(_text_within_limit)
"""Put on a union with ``Text``: ``Annotated[Number | Text | None, TEXT_LIMIT]``."""

Message = Annotated[str, Field(max_length=MAX_MESSAGE, description="at most 10,000 characters")]
"""A commit message."""

Description = Annotated[
    str, Field(max_length=MAX_DESCRIPTION, description="at most 10,000 characters")
]
"""What a model, dimension, cube or snapshot is for."""

__all__ = [
    "MAX_ID",
    "NUL_REFUSED",
    "TEXT_LIMIT",
    "CommitId",
    "Description",
    "Flag",
    "Message",
    "Number",
    "Text",
    "nul_at",
]
