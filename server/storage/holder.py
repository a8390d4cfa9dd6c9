"""Who holds a DuckDB file: the note a serving process leaves beside it, and what others are told.

DuckDB lets one process at a time open a database file; another one gets an ``IOException``
("Could not set lock on file ...: Conflicting lock is held in PROGRAM (PID n)"). While it serves,
``plancube serve`` writes ``<file>.server`` with its PID and URL, so a second process (the CLI, a
second server) can say in one line where the API is, or how to stop the server, instead of
showing DuckDB's traceback. The note is believed only when its PID is the one DuckDB names as the
holder: a server killed with -9 leaves a stale note behind, which the next server overwrites.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from server.errors import StoreInUse

_HOLDER = re.compile(r"lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


def note_path(db: Path) -> Path:
    return db.with_name(db.name + ".server")


def announce(db: Path, url: str) -> None:
    """Note that this process serves ``db`` at ``url``."""
    note_path(db).write_text(json.dumps({"pid": os.getpid(), "url": url}), encoding="utf-8")


def withdraw(db: Path) -> None:
    """Remove this process's note (not one another server wrote since)."""
    note = _read(db)
    if note is not None and note.get("pid") == os.getpid():
        note_path(db).unlink(missing_ok=True)


def _read(db: Path) -> dict[str, Any] | None:
    try:
        note = json.loads(note_path(db).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None


def in_use(db: Path, duckdb_message: str) -> StoreInUse:
    """The error for a file another process holds, from DuckDB's lock message."""
    found = _HOLDER.search(duckdb_message)
    if found is None:
        return StoreInUse(
            f"{db} is held by another process: if a plancube server serves it, use that "
            "server's API, or stop it and try again",
            path=str(db),
        )
    pid = int(found["pid"])
    note = _read(db)
    if note is not None and note.get("pid") == pid and isinstance(note.get("url"), str):
        url = note["url"]
        return StoreInUse(
            f"{db} is held by a plancube server (PID {pid}) at {url}: use its API "
            f"({url}/api/models, documented at {url}/docs), or stop it (Ctrl+C in its terminal, "
            f"or kill {pid}) and try again",
            path=str(db),
            pid=pid,
            url=url,
        )
    return StoreInUse(
        f"{db} is held by another process (PID {pid}, {found['program']}): if it is a plancube "
        f"server, use its API; or stop it (kill {pid}) and try again",
        path=str(db),
        pid=pid,
    )
