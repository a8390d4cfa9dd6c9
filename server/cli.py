"""The ``plancube`` command: serve, run the demo, load and export model files.

``--db`` takes a DuckDB file path (the embedded default) or a ``postgresql://`` URL; without it the
``PLANCUBE_DB`` environment variable is used, else ``data/plancube.duckdb`` — one default for every
command, so ``plancube demo`` and then ``plancube model export demo`` meet in the same file.
``model export`` only reads: it never creates a database. A DuckDB file that a server holds is
reported in one line naming the server, its API and how to stop it (``server.storage.holder``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import __version__
from server.errors import BadRequest, ModelNotFound, PlancubeError, StoreNotFound
from server.storage import location
from server.storage.location import DEFAULT_DB

if TYPE_CHECKING:
    from fastapi import FastAPI


def _db(args: argparse.Namespace) -> str:
    if args.db and location.has_password(args.db):
        print(
            "warning: the password in --db can be read by every user of this machine (ps); "
            "pass the URL in $PLANCUBE_DB or in a file (--db-file, $PLANCUBE_DB_FILE)",
            file=sys.stderr,
        )
    return location.resolve(args.db, args.db_file)


def _serve(
    db: str,
    args: argparse.Namespace,
    banner: str = "plancube",
    after: Callable[[str], str] | None = None,
) -> None:
    import uvicorn

    from server import audit
    from server.app import create_app
    from server.security import Security

    if hasattr(signal, "SIGXFSZ"):
        # a file past the size limit (ulimit -f) would end the process; ignored, the write
        # fails instead and is answered 507 storage_full, like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if bool(args.ssl_keyfile) != bool(args.ssl_certfile):
        raise BadRequest("--ssl-keyfile and --ssl-certfile go together: give both or neither")
    security = Security.from_env(
        public_url=args.public_url,
        allowed_hosts=args.allowed_hosts,
        allowed_origins=args.allowed_origins,
        listen_host=args.host,
    )
    app = create_app(db, security=security)
    host, port = args.host, args.port
    scheme = "https" if args.ssl_certfile else "http"
    url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
    _announce(app, url)
    audit.to_stderr()
    print(f"{banner} running at {url}/  (API docs: {url}/docs and {url}/redoc)")
    if security.public_url:
        print(f"public URL: {security.public_url}/")
    print(f"store: {location.redact(db)}   stop with Ctrl+C")
    print(after(url) if after else _first_run(app), flush=True)
    # no permessage-deflate: compressing every feed message for every socket was a third of
    # the feed's cost per subscriber (docs/benchmarks.md); its messages are small
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
        ssl_keyfile=args.ssl_keyfile,
        ssl_certfile=args.ssl_certfile,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )


ADMIN_PASSWORD_ENV = "PLANCUBE_ADMIN_PASSWORD"
FIRST_ADMIN = "admin"


def _first_run(app: FastAPI) -> str:
    """How to sign in: on a store without users, how to make the first admin.

    In a container nobody runs ``plancube user add`` before the server starts, so
    ``$PLANCUBE_ADMIN_PASSWORD`` makes the first server admin, ``admin``, when the store has
    none. It is read once and taken out of the environment (nothing started later inherits
    it), never printed, and ignored once an admin exists: a restart does not reset a password
    changed since.
    """
    from server.auth import accounts

    password = os.environ.pop(ADMIN_PASSWORD_ENV, None)
    store = app.state.workspace.store
    users = accounts.list_users(store)
    if any(u.server_admin and not u.disabled for u in users):
        if password is not None:
            return f"${ADMIN_PASSWORD_ENV} ignored: this store has a server admin already"
        return "sign in with an account (`plancube user list`) or an access token"
    if password:
        try:
            accounts.add_user(store, FIRST_ADMIN, password=password, server_admin=True)
        except accounts.UserExists as exc:
            exc.message = (
                f"${ADMIN_PASSWORD_ENV} makes the first server admin, {FIRST_ADMIN!r}, but a "
                f"user {FIRST_ADMIN!r} that is not one exists: make an admin with "
                "`plancube user add NAME --admin`"
            )
            raise
        except PlancubeError as exc:  # a password too short or too long: says which
            exc.message = f"${ADMIN_PASSWORD_ENV}: {exc.message}"
            raise
        return (
            f"made the first server admin, {FIRST_ADMIN!r}, with the password in "
            f"${ADMIN_PASSWORD_ENV}: sign in as {FIRST_ADMIN}"
        )
    return (
        "no admin yet: make the first one with `plancube user add NAME --admin` "
        "(stop the server first on a DuckDB file), or start it with "
        f"${ADMIN_PASSWORD_ENV} set; then sign in"
    )


def _announce(app: FastAPI, url: str) -> None:
    """While the app serves a DuckDB file, leave a note naming it (``server.storage.holder``)."""
    from server.storage import holder
    from server.storage.duckdb_store import DuckDBStore

    store = app.state.workspace.store
    if not isinstance(store, DuckDBStore):
        return
    serving = app.router.lifespan_context

    # withdrawn at shutdown, not after uvicorn.run: on SIGTERM uvicorn re-raises the signal
    # once shut down, and the process ends there
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        holder.announce(store.path, url)
        try:
            async with serving(app) as state:
                yield state
        finally:
            holder.withdraw(store.path)

    app.router.lifespan_context = lifespan


def cmd_serve(args: argparse.Namespace) -> int:
    _serve(_db(args), args)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from server import demo_users
    from server.services import models
    from server.storage import open_store
    from server.workspace import Workspace
    from templates import demo_company

    db = _db(args)
    ws = Workspace(open_store(db))
    try:
        ws.start()
        if args.reset or "demo" not in ws.model_names():
            model = demo_company.build()
            summary = models.load(ws, model, author="demo", replace=True)
            cells = sum(len(rows) for rows in model.data.values())
            print(f"loaded model {summary['name']!r}: {cells:,} cells in commit {summary['head']}")
        made = demo_users.create(ws)
        if made:
            print(f"demo users made: {', '.join(u.name for u in made)}")
    finally:
        ws.close()
    if args.no_serve:
        return 0
    _serve(db, args, banner="plancube demo", after=demo_users.sign_in_help)
    return 0


def cmd_model_load(args: argparse.Namespace) -> int:
    from server.modeldef import read_model_file
    from server.services import models
    from server.storage import open_store
    from server.workspace import Workspace

    model = read_model_file(Path(args.file))
    ws = Workspace(open_store(_db(args)))
    try:
        ws.start()
        summary = models.load(ws, model, author=args.author, replace=args.replace)
    finally:
        ws.close()
    print(f"loaded model {summary['name']!r} (head commit {summary['head']})")
    return 0


def cmd_model_export(args: argparse.Namespace) -> int:
    from server.context import Context
    from server.modeldef import dump_model
    from server.services import models
    from server.storage import open_store
    from server.workspace import Workspace

    db = _db(args)
    try:
        store = open_store(db, create=False)
    except StoreNotFound:
        raise StoreNotFound(
            f"no database at {db}: `plancube demo` loads the demo plan there and `plancube "
            "model load FILE` a model file (or name another database with --db or $PLANCUBE_DB)",
            path=db,
        ) from None
    ws = Workspace(store)
    try:
        ws.start()
        if args.name not in ws.model_names():
            there = ", ".join(ws.model_names()) or "none"
            raise ModelNotFound(
                f"no model {args.name!r} in {location.redact(db)} (models there: {there})",
                model=args.name,
            )
        ctx = Context.system(ws, args.name)
        text = dump_model(models.export(ctx, with_data=args.data), args.format)
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

    def db_option(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--db",
            help=f"DuckDB file path or postgresql:// URL (default: $PLANCUBE_DB or {DEFAULT_DB})",
        )
        sp.add_argument(
            "--db-file",
            metavar="FILE",
            help="read the DuckDB path or postgresql:// URL from FILE, so a password stays out "
            "of the command line (default: $PLANCUBE_DB_FILE)",
        )

    def net_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--host", default="127.0.0.1", help="address to listen on")
        sp.add_argument("--port", type=int, default=8000, help="port to listen on")
        sp.add_argument(
            "--public-url",
            metavar="URL",
            help="the URL people open, e.g. https://plan.example.com behind a proxy: its host "
            "and origin are allowed (default: $PLANCUBE_PUBLIC_URL)",
        )
        sp.add_argument(
            "--allowed-hosts",
            metavar="NAMES",
            help="host names to answer to besides localhost, 127.0.0.1, ::1 and the listen "
            "address, comma-separated; *.example.com for subdomains, * for any "
            "(default: $PLANCUBE_ALLOWED_HOSTS)",
        )
        sp.add_argument(
            "--allowed-origins",
            metavar="ORIGINS",
            help="origins of other sites' pages that may use the API and the live feed "
            "(CORS), comma-separated; default none ($PLANCUBE_ALLOWED_ORIGINS)",
        )
        sp.add_argument("--ssl-keyfile", metavar="FILE", help="serve HTTPS: the private key")
        sp.add_argument("--ssl-certfile", metavar="FILE", help="serve HTTPS: the certificate")
        sp.add_argument(
            "--forwarded-allow-ips",
            metavar="IPS",
            help="proxies whose X-Forwarded-For/-Proto headers are trusted, comma-separated "
            "(default: $FORWARDED_ALLOW_IPS or 127.0.0.1)",
        )

    serve = sub.add_parser("serve", help="serve the REST API and live feed")
    db_option(serve)
    net_options(serve)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser(
        "demo", help="load the demo company plan as model 'demo' (once) and serve it"
    )
    db_option(demo)
    net_options(demo)
    demo.add_argument(
        "--reset",
        action="store_true",
        help="load the demo model afresh (other models in the database are kept)",
    )
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
    export = msub.add_parser(
        "export", help="write a model file (only reads: never creates a database)"
    )
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
