"""Element names in a file's column to positions in a hierarchy, in one Arrow kernel.

Like ``server.addressing.decode`` for stored addresses: the column is trimmed and NFC-normalised,
then ``index_in`` against the hierarchy's names followed by its aliases (a name wins over an
equal alias), optionally both lower-cased. An element the user may not see (element security
NONE) is not found, as everywhere else. Suggestions for unknown names come from ``difflib`` once
per distinct unknown name, never per row.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calc_engine import Hierarchy

MAX_SUGGESTED = 1000  # distinct unknown names a report suggests near names for


def positions(
    h: Hierarchy,
    aliases: Mapping[str, str],
    values: pa.Array,
    *,
    case_insensitive: bool = False,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """Position of each value in ``h`` (-1: unknown, or hidden by ``visible``)."""
    keys = list(h.names) + list(aliases)
    targets = np.array(
        list(range(h.size)) + [h.index[real] for real in aliases.values()], dtype=np.int64
    )
    # a file names few distinct elements many times: match each distinct text once
    encoded = pc.cast(values, pa.string()).dictionary_encode()
    if pa.types.is_dictionary(encoded.type):
        distinct, codes = encoded.dictionary, encoded.indices
    else:  # a chunked column
        encoded = encoded.combine_chunks()
        distinct, codes = encoded.dictionary, encoded.indices
    text = pc.utf8_normalize(pc.utf8_trim_whitespace(distinct), "NFC")
    key_set = pa.array(keys, pa.string())
    if case_insensitive:
        text, key_set = pc.utf8_lower(text), pc.utf8_lower(key_set)
    found = pc.index_in(text, value_set=key_set).fill_null(-1).to_numpy(zero_copy_only=False)
    found = np.asarray(found, dtype=np.int64)
    per_text = np.append(np.where(found >= 0, targets[np.maximum(found, 0)], -1), -1)
    # a null in the file has no code: it takes the last slot, -1
    if codes.null_count:
        codes = pc.fill_null(codes, len(distinct))
    out = per_text.take(codes.to_numpy(zero_copy_only=False))
    if visible is not None:
        out[(out >= 0) & ~visible[np.maximum(out, 0)]] = -1
    return out


def suggestions(h: Hierarchy, unknown: pa.Array, visible: np.ndarray | None = None) -> pa.Array:
    """For each unknown name, the nearest names (comma separated), as text."""
    names = [n for i, n in enumerate(h.names) if visible is None or visible[i]]
    distinct = pc.unique(unknown)
    near = [
        ", ".join(difflib.get_close_matches(str(v), names, n=3)) if i < MAX_SUGGESTED else ""
        for i, v in enumerate(distinct.to_pylist())
    ]
    detail = pa.array([f"nearest: {s}" if s else "" for s in near], pa.string())
    return detail.take(pc.index_in(unknown, value_set=distinct))
