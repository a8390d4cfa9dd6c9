"""The ``plancube`` command: serve, run the demo, load and export model files.

``--db`` takes a DuckDB file path (the embedded default) or a ``postgresql://`` URL; without it the
``PLANCUBE_DB`` environment variable is used, else ``data/plancube.duckdb``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from server import __version__
from server.errors import PlancubeError

DEFAULT_DB = "data/plancube.duckdb"
DEMO_DB = "data/demo.duckdb"


def _db(value: str | None, default: str = DEFAULT_DB) -> str:
    return value or os.environ.get("PLANCUBE_DB") or default


def _serve(db: str, host: str, port: int, banner: str = "plancube") -> None:
    import uvicorn

    from server.app import create_app

    app = create_app(db)
    print(f"{banner} running at http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    print(f"store: {db}   stop with Ctrl+C", flush=True)
    # no permessage-deflate: compressing every feed message for every socket was a third of
    # the feed's cost per subscriber (docs/benchmarks.md); its messages are small
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_per_message_deflate=False)


def cmd_serve(args: argparse.Namespace) -> int:
    _serve(_db(args.db), args.host, args.port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from server.services import models
    from server.storage import open_store
    from server.workspace import Workspace
    from templates import demo_company

    db = _db(args.db, DEMO_DB)
    if args.reset and not db.startswith("postgres") and Path(db).exists():
        Path(db).unlink()
        Path(db + ".wal").unlink(missing_ok=True)
    ws = Workspace(open_store(db))
    try:
        ws.start()
        if args.reset or "demo" not in ws.model_names():
            model = demo_company.build()
            summary = models.load(ws, model, author="demo", replace=True)
            cells = sum(len(rows) for rows in model.data.values())
            print(f"loaded model {summary['name']!r}: {cells:,} cells in commit {summary['head']}")
    finally:
        ws.close()
    if args.no_serve:
        return 0
    _serve(db, args.host, args.port, banner="plancube demo")
    return 0


def cmd_model_load(args: argparse.Namespace) -> int:
    from server.modeldef import read_model_file
    from server.services import models
    from server.storage import open_store
    from server.workspace import Workspace

    model = read_model_file(Path(args.file))
    ws = Workspace(open_store(_db(args.db)))
    try:
        ws.start()
        summary = models.load(ws, model, author=args.author, replace=args.replace)
    finally:
        ws.close()
    print(f"loaded model {summary['name']!r} (head commit {summary['head']})")
    return 0


def cmd_model_export(args: argparse.Namespace) -> int:
    from server.modeldef import dump_model
    from server.services import models
    from server.storage import open_store
    from server.workspace import Workspace

    ws = Workspace(open_store(_db(args.db)))
    try:
        ws.start()
        text = dump_model(models.export(ws, args.name, with_data=args.data), args.format)
    finally:
        ws.close()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="plancube",
        description="Self-hosted planning server: versioned cubes over hierarchies.",
    )
    p.add_argument("--version", action="version", version=f"plancube {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def db_option(sp: argparse.ArgumentParser, default: str = DEFAULT_DB) -> None:
        sp.add_argument(
            "--db",
            help=f"DuckDB file path or postgresql:// URL (default: $PLANCUBE_DB or {default})",
        )

    def net_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--host", default="127.0.0.1", help="address to listen on")
        sp.add_argument("--port", type=int, default=8000, help="port to listen on")

    serve = sub.add_parser("serve", help="serve the REST API and live feed")
    db_option(serve)
    net_options(serve)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="load the demo company plan (once) and serve it")
    db_option(demo, DEMO_DB)
    net_options(demo)
    demo.add_argument("--reset", action="store_true", help="rebuild the demo from scratch")
    demo.add_argument("--no-serve", action="store_true", help="load the demo, do not serve")
    demo.set_defaults(func=cmd_demo)

    model = sub.add_parser("model", help="load or export model files (YAML or JSON)")
    msub = model.add_subparsers(dest="model_command", required=True)
    load = msub.add_parser("load", help="load a model file (all or nothing)")
    load.add_argument("file", help="model file, .yaml/.yml or .json")
    load.add_argument("--replace", action="store_true", help="replace a model of the same name")
    load.add_argument("--author", default=os.environ.get("USER", "cli"), help="commit author")
    db_option(load)
    load.set_defaults(func=cmd_model_load)
    export = msub.add_parser("export", help="write a model file")
    export.add_argument("name", help="model name")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.add_argument("--format", choices=["yaml", "json"], default="yaml")
    export.add_argument("--data", action="store_true", help="include every stored leaf cell")
    db_option(export)
    export.set_defaults(func=cmd_model_export)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PlancubeError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
