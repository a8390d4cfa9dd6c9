"""Names: what a model, dimension, cube, rule, snapshot or element may be called.

A name is how planners find a thing again: typed into a view, pasted from a spreadsheet, sent in
a URL. Two names that look the same must be the same name, or a write lands on a twin nobody can
see (``Air\\u200bfare`` beside ``Airfare``). So every name is normalized before it is stored —
Unicode NFC (the composed "Café", whichever way the client's keyboard sent it), spaces of any
width read as one ordinary space, none at either end — and refused, with the reason and the
position, when it holds a character nobody can see or type on purpose: control characters
(U+0000–U+001F, U+007F–U+009F, U+0085), format characters (zero-width U+200B–U+200D, bidi
overrides U+202A–U+202E and U+2066–U+2069, the byte-order mark U+FEFF), line and paragraph
separators (U+2028, U+2029), surrogates, private-use and unassigned code points.

Names that appear as one segment of a URL path (models, dimensions, cubes, rules, snapshots)
must also round-trip through it: no ``/``, and not ``.`` or ``..`` (which clients resolve away).
Element names may hold ``/`` ("Travel/Meals"); the routes that take one in the path take the
rest of the path.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

MAX_LENGTH = 255
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_SPACES = re.compile(r"[^\S\n\r\t\f\v\x1c-\x1f\x85\u2028\u2029]+")


def normalize(text: str) -> str:
    """The name as stored: NFC, runs of spaces (of any width) as one space, trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip(" ")


def problem(name: str) -> str | None:
    """Why a (normalized) name is refused, or None."""
    if name == "":
        return "a name cannot be empty or only spaces"
    if len(name) > MAX_LENGTH:
        return f"a name has at most {MAX_LENGTH} characters (this one has {len(name)})"
    for i, ch in enumerate(name):
        if unicodedata.category(ch) in _INVISIBLE:
            what = unicodedata.name(ch, "a control, format or unassigned character")
            return (
                f"a name cannot contain U+{ord(ch):04X} ({what}) (at position {i}): "
                "an invisible character would make a twin of another name"
            )
    return None


def _check(text: str) -> str:
    reason = problem(text)
    if reason is not None:
        raise ValueError(reason)
    return text


def _check_path(text: str) -> str:
    _check(text)
    if "/" in text:
        raise ValueError(f"{text!r}: a name used in URLs cannot contain '/'")
    if text in {".", ".."}:
        raise ValueError(f"{text!r} cannot be a name: URLs resolve it away")
    return text


def _normalized(value: object) -> object:
    return normalize(value) if isinstance(value, str) else value


Name = Annotated[
    str,
    BeforeValidator(_normalized),
    AfterValidator(_check),
    Field(
        min_length=1,
        max_length=MAX_LENGTH,
        description="NFC, trimmed, at most 255 characters, no invisible characters",
    ),
]
"""An element's or an attribute's name."""

PathName = Annotated[
    str,
    BeforeValidator(_normalized),
    AfterValidator(_check_path),
    Field(
        min_length=1,
        max_length=MAX_LENGTH,
        description="NFC, trimmed, at most 255 characters, no invisible characters, no '/'",
    ),
]
"""A name that is one segment of a URL path: a model, dimension, cube, rule or snapshot."""

Reference = Annotated[
    str, Field(max_length=MAX_LENGTH, description="a name or alias, at most 255 characters")
]
"""A name a request looks up rather than stores (normalized when it is looked up): bounded like
a name, so that no lookup of a megabyte of text echoes it back in its refusal."""
