"""The ``plancube`` command: serve, run the demo, load and export model files, manage local
accounts and personal access tokens; sign in to a server (``login``, ``whoami``, ``logout``:
``server.auth.client``).

``--db`` takes a DuckDB file path (the embedded default) or a ``postgresql://`` URL; without it the
``PLANCUBE_DB`` environment variable is used, else ``data/plancube.duckdb`` — one default for every
command, so ``plancube demo`` and then ``plancube model export demo`` meet in the same file.
``model export`` only reads: it never creates a database. A DuckDB file that a server holds is
reported in one line naming the server, its API and how to stop it (``server.storage.holder``)
— so on DuckDB ``plancube user`` and ``plancube token`` run while the server is stopped.

``user add`` and ``user passwd`` ask for the password twice on the terminal, or read one line
from standard input with ``--password-stdin`` (for scripts: never a password in the arguments,
where ``ps`` shows it). ``token create`` prints the token alone on standard output, once.
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

    from server.storage import Store


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


def cmd_sql_views(args: argparse.Namespace) -> int:
    from server.storage import open_store

    db = _db(args)
    try:
        store = open_store(db, create=False)
    except StoreNotFound:
        raise StoreNotFound(f"no database at {db}", path=db) from None
    for name in store.refresh_sql_views():
        print(name)
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


def _store(args: argparse.Namespace, *, create: bool = True) -> Store:
    from server.storage import open_store

    db = _db(args)
    try:
        return open_store(db, create=create)
    except StoreNotFound:
        raise StoreNotFound(
            f"no database at {db} (name one with --db or $PLANCUBE_DB)", path=db
        ) from None


def _password(args: argparse.Namespace, name: str) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    import getpass

    password = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("the same again: ") != password:
        raise BadRequest("the two passwords differ; nothing was changed")
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    from server.auth import accounts, hashing

    password = None if args.no_password else _password(args, args.name)
    if password is not None:
        hashing.check_policy(password)  # before the database is opened (or made)
    store = _store(args)
    try:
        user = accounts.add_user(
            store, args.name, password=password, email=args.email, server_admin=args.admin
        )
    finally:
        store.close()
    role = "server admin" if user.server_admin else "user"
    print(
        f"added {role} {user.name!r}"
        + ("" if password else " (no password: it cannot sign in with one until it is set)")
    )
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    from server.auth import accounts, hashing

    password = _password(args, args.name)
    hashing.check_policy(password)
    store = _store(args, create=False)
    try:
        accounts.set_password(store, args.name, password)
    finally:
        store.close()
    print(f"new password for {args.name!r}; its sessions are signed out")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    from server.auth import accounts

    store = _store(args, create=False)
    try:
        accounts.disable_user(store, args.name, disabled=args.disabled)
    finally:
        store.close()
    if args.disabled:
        print(f"disabled {args.name!r}: its sessions and tokens are revoked")
    else:
        print(f"enabled {args.name!r}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from server.auth import accounts

    store = _store(args, create=False)
    try:
        users = accounts.list_users(store)
    finally:
        store.close()
    table = [("NAME", "SIGNS IN BY", "ADMIN", "DISABLED", "CREATED", "LAST SIGN-IN")]
    for u in users:
        table.append(
            (
                u.name,
                u.issuer,
                "yes" if u.server_admin else "",
                "yes" if u.disabled else "",
                u.created_at[:16].replace("T", " "),
                (u.last_signin_at or "")[:16].replace("T", " "),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from server.auth import accounts

    store = _store(args, create=False)
    try:
        user = accounts.find_local_user(store, args.user)
        if user is None:
            raise accounts.UserNotFound(f"no local user named {args.user!r}", name=args.user)
        raw, token = accounts.create_token(store, user.id, args.name, expires_days=args.days)
    finally:
        store.close()
    print(raw)
    print(
        f"token {token.name!r} for {user.name!r}, expires {(token.expires_at or '')[:10]}: "
        "it is shown only now, keep it somewhere safe",
        file=sys.stderr,
    )
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

    views = sub.add_parser(
        "sql-views", help="create (again) the SQL view of every cube (docs/exports.md)"
    )
    db_option(views)
    views.set_defaults(func=cmd_sql_views)

    user = sub.add_parser("user", help="local accounts: add, passwd, disable, enable, list")
    usub = user.add_subparsers(dest="user_command", required=True)

    def password_option(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input instead of asking",
        )

    add = usub.add_parser("add", help="add a local account (asks for its password twice)")
    add.add_argument("name", help="user name (case does not matter when signing in)")
    add.add_argument("--admin", action="store_true", help="a server admin")
    add.add_argument("--email", help="e-mail address")
    password_option(add)
    add.add_argument(
        "--no-password",
        action="store_true",
        help="no password (the account signs in with a token only, until one is set)",
    )
    db_option(add)
    add.set_defaults(func=cmd_user_add)
    passwd = usub.add_parser("passwd", help="set a new password (signs the user out everywhere)")
    passwd.add_argument("name", help="user name")
    password_option(passwd)
    db_option(passwd)
    passwd.set_defaults(func=cmd_user_passwd)
    for verb, disabled, text in [
        ("disable", True, "disable an account, revoking its sessions and tokens"),
        ("enable", False, "enable a disabled account again"),
    ]:
        sp = usub.add_parser(verb, help=text)
        sp.add_argument("name", help="user name")
        db_option(sp)
        sp.set_defaults(func=cmd_user_disable, disabled=disabled)
    listing = usub.add_parser("list", help="list the users (only reads)")
    db_option(listing)
    listing.set_defaults(func=cmd_user_list)

    token = sub.add_parser("token", help="personal access tokens")
    tsub = token.add_subparsers(dest="token_command", required=True)
    create = tsub.add_parser("create", help="make a token for a local user and print it, once")
    create.add_argument("--user", required=True, help="the local user it signs in")
    create.add_argument("--name", required=True, help="what it is for, e.g. 'nightly export'")
    create.add_argument(
        "--days", type=int, default=90, help="days until it expires, at most 366 (default: 90)"
    )
    db_option(create)
    create.set_defaults(func=cmd_token_create)
    _login_parsers(sub)
    _import_parser(sub)
    from server import cli_dimension_load

    cli_dimension_load.add_parser(sub)  # plancube load-dimension
    from server import cli_export

    cli_export.add_parser(sub, db_option)  # plancube export --parquet DIR
    return p


# -- plancube import (server.imports.client) ----------------------------------------------------
def _import_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "import",
        help="import cells from a CSV, XLSX or Parquet file into a cube, through a server "
        "(as the user plancube login signed in); docs/imports.md",
    )
    sp.add_argument("file", type=Path)
    sp.add_argument("--server", required=True, metavar="URL", help="the plancube server")
    sp.add_argument("--ca-file", metavar="FILE", help="CA certificates to trust for the server")
    sp.add_argument("--model", required=True)
    sp.add_argument("--cube", required=True)
    sp.add_argument(
        "--format",
        help="csv, xlsx, parquet or a plugin's format (default: by the file's suffix)",
    )
    sp.add_argument(
        "--profile",
        metavar="NAME",
        help="load by the model's load profile NAME; the options given beside it override it",
    )
    sp.add_argument("--map", action="append", default=[], metavar="DIMENSION=COLUMN")
    sp.add_argument("--const", action="append", default=[], metavar="DIMENSION=ELEMENT")
    sp.add_argument("--value", metavar="COLUMN", help="long layout: the value column")
    sp.add_argument("--across", metavar="DIMENSION", help="wide layout: what the columns name")
    sp.add_argument("--columns", action="append", default=[], metavar="COLUMN")
    sp.add_argument(
        "--mode",
        choices=["upsert", "replace", "accumulate"],
        help="default: upsert (or the profile's)",
    )
    sp.add_argument("--dry-run", action="store_true", help="validate and report only")
    sp.add_argument("--load-valid-rows", action="store_true")
    sp.add_argument("--case-insensitive", action="store_true")
    sp.add_argument("--decimal", choices=["dot", "comma"])
    sp.add_argument("--thousands", choices=["none", "comma", "dot", "space", "apostrophe"])
    sp.add_argument("--delimiter")
    sp.add_argument("--encoding", choices=["utf-8", "cp1252"])
    sp.add_argument("--sheet")
    sp.add_argument("--message", default="")
    sp.add_argument("--report", type=Path, metavar="CSV", help="write every problem here")
    sp.add_argument(
        "--background", action="store_true", help="as a job: a progress bar; Ctrl+C cancels"
    )
    sp.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from server.auth import client
    from server.imports.client import follow, upload

    def run() -> int:
        params = [("map", m) for m in args.map] + [("const", c) for c in args.const]
        params += [("columns", c) for c in args.columns]
        names = ("profile", "value", "across", "decimal", "thousands", "delimiter", "encoding")
        for name in (*names, "sheet", "mode"):
            if getattr(args, name):
                params.append((name, getattr(args, name)))
        params += [("message", args.message)]
        for flag in ("dry_run", "load_valid_rows", "case_insensitive"):
            if getattr(args, flag):
                params.append((flag, "true"))
        token = client.access_token(args.server, ca_file=args.ca_file)
        send = (args.server, token, args.model, args.cube, args.file)
        if args.background:
            status, body = follow(*send, params, fmt=args.format, ca_file=args.ca_file)
        else:
            r = upload(*send, params, fmt=args.format, ca_file=args.ca_file)
            status, body = r.status_code, r.json()
        problems = body.get("error_count") or body.get("error", {}).get("details", {}).get(
            "error_count"
        )
        if args.report is not None and problems:
            # the whole report: the same file again as a dry run (nothing written twice)
            again = [*params, ("report", "csv"), ("dry_run", "true")]
            csv = upload(*send, again, fmt=args.format, ca_file=args.ca_file)
            args.report.write_bytes(csv.content)
        if status != 200:
            err = body.get("error", {})
            print(f"error [{err.get('code')}]: {err.get('message')}", file=sys.stderr)
            for e in err.get("details", {}).get("errors", [])[:20]:
                print(
                    f"  row {e['row']}, {e['column']}: {e['value']!r} {e['reason']} "
                    f"{e['detail']}".rstrip(),
                    file=sys.stderr,
                )
            return 1
        for e in body.get("errors", [])[:20]:  # a dry run's (or valid rows') problems
            print(
                f"  row {e['row']}, {e['column']}: {e['value']!r} {e['reason']} "
                f"{e['detail']}".rstrip(),
                file=sys.stderr,
            )
        n = body.get("would_write" if args.dry_run else "written")
        count = body["error_count"]
        if args.dry_run:
            if count and not args.load_valid_rows:
                print(
                    f"{count} problem(s) in {body['rows']} rows: the import would write nothing "
                    f"(with --load-valid-rows, the {n} cells of the rows without problems)"
                )
                return 1
            print(f"would write {n} cells from {body['rows']} rows; {count} problem(s)")
            return 0
        commit = (body.get("commit") or {}).get("id")
        done = f"commit {commit}" if commit is not None else "nothing changed: no commit"
        print(f"wrote {n} cells from {body['rows']} rows ({done}); {count} problem(s)")
        return 0

    return _signed_in(run)


# -- plancube login / whoami / logout (server.auth.client) ------------------------------------
def _login_parsers(sub: Any) -> None:
    def server_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--server", required=True, metavar="URL", help="the plancube server")
        sp.add_argument(
            "--ca-file",
            metavar="FILE",
            help="CA certificates to trust for the server and its identity provider, instead "
            "of the system's (a proxy that inspects TLS)",
        )

    login = sub.add_parser(
        "login",
        help="sign in to a server through its identity provider (device code), or store a "
        "personal access token for it",
    )
    server_options(login)
    login.add_argument(
        "--token-stdin",
        action="store_true",
        help="read a personal access token from standard input and keep it for the server",
    )
    login.set_defaults(func=cmd_login)
    whoami = sub.add_parser("whoami", help="who you are signed in as on a server")
    server_options(whoami)
    whoami.set_defaults(func=cmd_whoami)
    logout = sub.add_parser("logout", help="forget the tokens kept for a server")
    logout.add_argument("--server", required=True, metavar="URL", help="the plancube server")
    logout.set_defaults(func=cmd_logout)


def _signed_in(call: Callable[[], int]) -> int:
    import httpx

    from server.auth.client import LoginError

    try:
        return call()
    except LoginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: no file {exc.filename!r}", file=sys.stderr)
        return 2
    except httpx.TransportError as exc:  # refused, unreachable, timed out, TLS
        print(f"error: cannot reach the server: {exc}", file=sys.stderr)
        return 2


def cmd_login(args: argparse.Namespace) -> int:
    from server.auth import client

    def run() -> int:
        if args.token_stdin:
            me = client.store_token(args.server, sys.stdin.readline(), ca_file=args.ca_file)
        else:
            me = client.login(
                args.server, show=lambda m: print(m, flush=True), ca_file=args.ca_file
            )
        print(f"signed in: {client.describe(me)}")
        return 0

    return _signed_in(run)


def cmd_whoami(args: argparse.Namespace) -> int:
    from server.auth import client

    def run() -> int:
        print(client.describe(client.whoami(args.server, ca_file=args.ca_file)))
        return 0

    return _signed_in(run)


def cmd_logout(args: argparse.Namespace) -> int:
    from server.auth import client

    def run() -> int:
        gone = client.logout(args.server)
        print("signed out" if gone else f"not signed in to {client.normalize(args.server)}")
        return 0

    return _signed_in(run)


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
