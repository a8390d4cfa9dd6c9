"""Where the store is, and how to say so without giving away its password.

A store is named by a DuckDB file path or a ``postgresql://`` URL. A URL may carry a password,
and whatever is on a command line can be read by every user of the machine (``ps``), so the
URL can also come from the environment (``PLANCUBE_DB``) or from a file only its owner reads
(``--db-file`` / ``PLANCUBE_DB_FILE``, as container secrets are mounted). In that order:
``--db``, ``--db-file``, ``PLANCUBE_DB``, ``PLANCUBE_DB_FILE``, the default file. Anything the
server prints or reports names the store through :func:`redact`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from server.errors import BadRequest

DEFAULT_DB = "data/plancube.duckdb"
_SECRET_PARAMS = {"password", "sslpassword"}


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def resolve(db: str | None = None, db_file: str | None = None) -> str:
    """The store to open, from the first of the sources that names one."""
    if db:
        return db
    if db_file:
        return _read(db_file)
    if env := os.environ.get("PLANCUBE_DB"):
        return env
    if env_file := os.environ.get("PLANCUBE_DB_FILE"):
        return _read(env_file)
    return DEFAULT_DB


def _read(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BadRequest(f"cannot read the database URL from {path}: {exc.strerror}") from None
    if not text:
        raise BadRequest(f"{path} is empty: it should hold a DuckDB path or a postgresql:// URL")
    return text


def has_password(url: str) -> bool:
    return is_postgres(url) and redact(url) != url


def redact(url: str) -> str:
    """The URL with its password (in the user part or the query) replaced by ``***``."""
    if not is_postgres(url):
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k in _SECRET_PARAMS for k, _ in query):
        safe = [(k, "***" if k in _SECRET_PARAMS else v) for k, v in query]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(safe, safe="*")))
    return urlunsplit(parts._replace(netloc=netloc))
