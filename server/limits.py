"""What one structure change may cost, checked before anything is stored or allocated.

A cube is a dense array over every element of its dimensions (``calc_engine.cube.dense_cost``
says what that costs), so an innocent-looking request — a cube over three dimensions of 10,000
elements, or ten thousand elements added to a dimension under a big cube — can ask for terabytes.
Allocating first and failing later leaves the structure stored and the server unable to start
again. So every structure change is costed first, here, in one place: a cube create, a dimension
create, replace or element upsert (for every cube over it), a model import, and the rebuild of
each model at start-up (a cube stored under a higher limit is refused, not allocated). Rules
compute inside their cube's array, so the cube's limit bounds them too.

The limit is on cell *addresses* (the product of the dimension sizes, totals included):
``PLANCUBE_MAX_CUBE_CELLS``, by default what keeps one cube's arrays within a sixteenth of the
machine's memory. That leaves room: a full recalculation briefly holds about four more copies of
the values, a dimension change builds the new array beside the old one, and the other cubes and
models need memory too.

The other limits bound what one request may make the server hold, each checked where the input
is read and named in its refusal (all listed in docs/api.md, "Limits"): the body's bytes
(``PLANCUBE_MAX_BODY_BYTES``, before it is read), the lengths of text fields (fixed: they are part
of the API's schema), the nodes YAML aliases may add to a model file (a 4 KB file of nested
aliases expands to 10^8 strings), the page sizes of history reads, and the subscriptions and
cells one live-feed socket may watch (settable: each costs memory for as long as it lives).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from calc_engine.cube import BYTES_PER_ADDRESS, dense_cost
from server.errors import BadRequest, CubeTooLarge

SETTING = "PLANCUBE_MAX_CUBE_CELLS"
BODY_SETTING = "PLANCUBE_MAX_BODY_BYTES"
# a request body: a model file with its data, or a write batch (~90 bytes a cell as JSON); bulk
# loads of millions of cells belong to imports, which stream files
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
SUBSCRIPTIONS_SETTING = "PLANCUBE_MAX_SUBSCRIPTIONS"
DEFAULT_MAX_SUBSCRIPTIONS = 20  # views one feed socket watches; a grid page watches one or two
FEED_CELLS_SETTING = "PLANCUBE_MAX_FEED_CELLS"
# cells all views of one socket hold together: one largest view (server.services.views), which
# the feed keeps about 25 bytes a cell for (what it last sent, to send only what changed)
DEFAULT_MAX_FEED_CELLS = 2_000_000
EXPORT_SETTING = "PLANCUBE_MAX_EXPORT_CELLS"
# cells one area export writes (server.exports.area): the export holds ~16 bytes a cell while
# it writes the file, and 10^7 rows is a 400 MB CSV
DEFAULT_MAX_EXPORT_CELLS = 10_000_000

# text fields on the wire, in characters
MAX_MESSAGE = 10_000  # a commit message
MAX_DESCRIPTION = 10_000  # of a model, dimension, cube or snapshot
MAX_TEXT = 32_767  # a text cell or a text attribute: what one Excel cell holds
MAX_FORMULA = 10_000  # a rule formula

# model files: nodes YAML aliases may add beyond those written (a name repeated by reference is
# fine; a file whose references expand a thousandfold is a bomb); and the nesting a model file
# may have, which is what orjson writes (a model nests about eight levels)
MAX_ALIAS_NODES = 1_000_000
MAX_DEPTH = 254

# history pages
MAX_COMMITS_PAGE = 1000  # commits in one GET .../commits
DEFAULT_CHANGES_PAGE = 1000  # changes in one GET .../commits/{id}
MAX_CHANGES_PAGE = 10_000
_MEMORY_SHARE = 16  # one cube's arrays: at most 1/16 of the machine's memory by default
_FALLBACK = 2**27  # when the memory cannot be read: 1.2 GB of arrays per cube


def memory_bytes() -> int | None:
    """The machine's physical memory, or None where the platform does not tell."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def default_max_cube_cells() -> int:
    memory = memory_bytes()
    return _FALLBACK if not memory else max(1, memory // (_MEMORY_SHARE * BYTES_PER_ADDRESS))


@dataclass(frozen=True, slots=True)
class Limits:
    max_cube_cells: int
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS
    max_feed_cells: int = DEFAULT_MAX_FEED_CELLS
    max_export_cells: int = DEFAULT_MAX_EXPORT_CELLS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The limits set in the environment (``PLANCUBE_MAX_CUBE_CELLS``,
        ``PLANCUBE_MAX_BODY_BYTES``, ``PLANCUBE_MAX_SUBSCRIPTIONS``,
        ``PLANCUBE_MAX_FEED_CELLS``, ``PLANCUBE_MAX_EXPORT_CELLS``), else the defaults."""
        env = os.environ if environ is None else environ
        return cls(
            _positive(env, SETTING, "cells") or default_max_cube_cells(),
            _positive(env, BODY_SETTING, "bytes") or DEFAULT_MAX_BODY_BYTES,
            _positive(env, SUBSCRIPTIONS_SETTING, "subscriptions") or DEFAULT_MAX_SUBSCRIPTIONS,
            _positive(env, FEED_CELLS_SETTING, "cells") or DEFAULT_MAX_FEED_CELLS,
            _positive(env, EXPORT_SETTING, "cells") or DEFAULT_MAX_EXPORT_CELLS,
        )

    def check_cube(self, cube: str, sizes: Mapping[str, int]) -> None:
        """Refuse (422 ``cube_too_large``) a cube over dimensions of these sizes past the limit."""
        addresses, nbytes = dense_cost(list(sizes.values()))
        if addresses <= self.max_cube_cells:
            return
        shape = " x ".join(f"{n:,}" for n in sizes.values())
        raise CubeTooLarge(
            f"cube {cube!r} would have {addresses:,} cell addresses ({shape} elements, "
            f"{_size(nbytes)} of arrays), more than the limit of {self.max_cube_cells:,} "
            f"({SETTING}); use fewer or smaller dimensions",
            cube=cube,
            dimensions=dict(sizes),
            addresses=_json_number(addresses),
            bytes=_json_number(nbytes),
            limit=self.max_cube_cells,
            setting=SETTING,
        )


def _json_number(n: int) -> int | float:
    """``n``, as a float past 64 bits (JSON encoders refuse larger integers; 20 dimensions of
    10,000 elements make 10^80 addresses)."""
    return n if n < 2**63 else float(n)


def _size(nbytes: int) -> str:
    """Bytes for a message: ``9.0 TB``, ``1.3 GB``, ``900 bytes``."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes} bytes"


def _positive(environ: Mapping[str, str], name: str, unit: str) -> int | None:
    """A positive whole number set in the environment, None when unset."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)  # 1_000_000 reads too
    except ValueError:
        value = 0
    if value < 1:
        raise BadRequest(
            f"{name} must be a positive whole number of {unit}, got {raw!r}", setting=name
        )
    return value
