"""``plancube export --parquet DIR --model M``: a whole model, with its history, as Parquet files
for a data lake (docs/exports.md).

It reads the store itself (no server: like ``plancube model export``, offline), everything as
of one commit — the model's head when it starts — so the files agree with each other even
while a server goes on writing to a PostgreSQL store. The directory gets::

    _manifest.json               the files, their row counts, the head commit, the version
    commits.parquet              id, author, created_at, message, source, cells, reverts
    cubes/<cube>.parquet         the stored leaf cells: a column per dimension, num, txt
    history/<cube>.parquet       every cell change: commit_id, author, created_at, source,
                                 a column per dimension, old_num, old_txt, new_num, new_txt
    dimensions/<dim>.parquet     position, element, type, parent, weight, level, attributes

A cell's address is split into its dimensions' columns by Arrow (``split_pattern``), never row
by row; the history is read and written a range of commits at a time (``HISTORY_PAGE`` changed
cells), so memory follows that page, not the model's whole history. A dimension file has a
row per edge (an element under two parents has two rows; a root has one, without a parent);
``level`` is TM1's: 0 for a leaf, else one more than its highest child. ``_manifest.json`` is
written last: a directory without one is not a finished export.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from server import __version__
from server.modeldef import AttributeType, DimensionDef, build_hierarchy
from server.storage.base import SEPARATOR

if TYPE_CHECKING:
    from server.storage import Store

MANIFEST = "_manifest.json"
ROW_GROUP = 65_536
HISTORY_PAGE = 1_000_000  # changed cells read from the store at a time
COMMITS = pa.schema(
    [
        ("id", pa.int64()),
        ("author", pa.string()),
        ("created_at", pa.string()),
        ("message", pa.string()),
        ("source", pa.string()),
        ("cells", pa.int64()),
        ("reverts", pa.int64()),
    ]
)
_VALUES = [("num", pa.float64()), ("txt", pa.string())]
_CHANGE = [("old_num", pa.float64()), ("old_txt", pa.string())]
_CHANGE += [("new_num", pa.float64()), ("new_txt", pa.string())]
_COMMIT_OF_CHANGE = [
    ("commit_id", pa.int64()),
    ("author", pa.string()),
    ("created_at", pa.string()),
    ("source", pa.string()),
]


def add_parser(sub: Any, db_option: Callable[[argparse.ArgumentParser], None]) -> None:
    sp = sub.add_parser(
        "export",
        help="write a model with its history as Parquet files for a data lake, reading the "
        "database directly (docs/exports.md)",
    )
    sp.add_argument("--parquet", required=True, type=Path, metavar="DIR", help="directory to fill")
    sp.add_argument("--model", required=True, help="model name")
    db_option(sp)
    sp.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from server.cli import _store
    from server.errors import ModelNotFound
    from server.storage import location

    store = _store(args, create=False)
    try:
        if store.get_model(args.model) is None:
            there = ", ".join(m.name for m in store.list_models()) or "none"
            raise ModelNotFound(
                f"no model {args.model!r} in {location.redact(store.url)} (models there: {there})",
                model=args.model,
            )
        manifest = export(store, args.model, args.parquet)
    finally:
        store.close()
    rows = sum(f["rows"] for f in manifest["files"])
    print(
        f"wrote {len(manifest['files'])} files ({rows:,} rows) of model {args.model!r} at "
        f"commit {manifest['head']} to {args.parquet}"
    )
    return 0


def _file_name(name: str) -> str:
    # names may hold any character but '/'; a file name gets only safe ones (and stays short)
    return quote(name, safe=" -_.")[:200] + ".parquet"


def export(store: Store, model: str, target: Path) -> dict[str, Any]:
    """Write the model's files into ``target``; the manifest (also returned) last."""
    head = int(store.head(model))
    dims, cubes = store.load_structure(model)
    files: list[dict[str, Any]] = []

    def write(kind: str, name: str | None, relative: str, tables: Iterable[pa.Table]) -> None:
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = 0
        writer: pq.ParquetWriter | None = None
        try:
            for table in tables:
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table, row_group_size=ROW_GROUP)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        entry: dict[str, Any] = {"path": relative, "kind": kind, "rows": rows}
        if name is not None:
            entry["name"] = name
        files.append(entry)

    target.mkdir(parents=True, exist_ok=True)
    (target / MANIFEST).unlink(missing_ok=True)
    commits = store.commits_table(model, head).cast(COMMITS)
    write("commits", None, "commits.parquet", [commits])
    for dim in dims:
        write("dimension", dim.name, f"dimensions/{_file_name(dim.name)}", [dimension_table(dim)])
    spans = _spans(commits)
    for cube in cubes:
        names = list(cube.dimensions)
        cells = store.cells_as_of(model, cube.name, head)
        table = _split(cells, names).cast(_schema(names, _VALUES))
        write("cells", cube.name, f"cubes/{_file_name(cube.name)}", [table])
        schema = _schema(names, _CHANGE, _COMMIT_OF_CHANGE)
        pages = (
            _split(store.history_table(model, cube.name, upto, after), names).cast(schema)
            for after, upto in spans
        )
        write("history", cube.name, f"history/{_file_name(cube.name)}", pages)
    manifest = {
        "model": model,
        "head": head,
        "plancube": __version__,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "files": files,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def _spans(commits: pa.Table) -> list[tuple[int, int]]:
    """Commit ranges (after, upto] of at most ``HISTORY_PAGE`` changed cells each (a commit
    bigger than that is a range of its own): the history is read a range at a time, so memory
    follows the page, not the model's whole history."""
    ids = commits.column("id").to_pylist()
    cells = [n or 0 for n in commits.column("cells").to_pylist()]
    spans: list[tuple[int, int]] = []
    after, total = -1, 0
    for k, n in enumerate(cells):
        if total and total + n > HISTORY_PAGE:
            spans.append((after, ids[k - 1]))
            after, total = ids[k - 1], 0
        total += n
    spans.append((after, ids[-1] if ids else after))
    return spans


def _schema(
    dims: list[str], values: list[tuple[str, pa.DataType]], before: list[Any] | None = None
) -> pa.Schema:
    return pa.schema([*(before or []), *((d, pa.string()) for d in dims), *values])


def _split(table: pa.Table, dims: list[str]) -> pa.Table:
    """``addr`` replaced by a column per dimension (the address is their names, tab-joined)."""
    addr = table.column("addr").cast(pa.string())
    parts = pc.split_pattern(addr, SEPARATOR)
    at = table.column_names.index("addr")
    columns = [c for i, c in enumerate(table.columns) if i != at]
    names = [n for n in table.column_names if n != "addr"]
    for k, d in enumerate(dims):
        columns.insert(at + k, pc.list_element(parts, k))
        names.insert(at + k, d)
    return pa.table(columns, names=names)


def dimension_table(dim: DimensionDef) -> pa.Table:
    """A row per (element, parent) edge, roots with a null parent, in dimension order."""
    h = build_hierarchy(dim)
    level = [0] * h.size
    for row in _postorder(h):
        kids = h.child_positions(row)
        level[row] = 1 + max(level[c] for c in kids) if kids else 0
    by_name = {e.name: e for e in dim.elements}
    rows: dict[str, list[Any]] = {"position": [], "element": [], "type": [], "parent": []}
    rows |= {"weight": [], "level": []}
    attributes: dict[str, list[Any]] = {a: [] for a in dim.attributes}
    parents: dict[str, list[tuple[str | None, float | None]]] = {}
    for e in dim.elements:
        for c in e.children:
            parents.setdefault(c.name, []).append((e.name, c.weight))
    for pos, name in enumerate(h.names):
        element = by_name[name]
        for parent, weight in parents.get(name) or [(None, None)]:
            rows["position"].append(pos)
            rows["element"].append(name)
            rows["type"].append(element.type.value)
            rows["parent"].append(parent)
            rows["weight"].append(weight)
            rows["level"].append(level[pos])
            for a in attributes:
                attributes[a].append(element.attributes.get(a))
    types = {"position": pa.int64(), "element": pa.string(), "type": pa.string()}
    types |= {"parent": pa.string(), "weight": pa.float64(), "level": pa.int64()}
    columns = {k: pa.array(v, types[k]) for k, v in rows.items()}
    for a, values in attributes.items():
        kind = pa.float64() if dim.attributes[a] is AttributeType.number else pa.string()
        columns[f"attr:{a}" if a in columns else a] = pa.array(values, kind)
    return pa.table(columns)


def _postorder(h: Any) -> list[int]:
    """Every position, children before their parents (for the levels)."""
    out: list[int] = []
    done = [False] * h.size
    for root in range(h.size):
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if done[node]:
                continue
            if expanded:
                done[node] = True
                out.append(node)
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in h.child_positions(node) if not done[c])
    return out
