"""``plancube import``: a file sent to a server's import route, as the signed-in user.

The command talks to a running server (with the token ``plancube login`` kept for it) rather
than opening the database itself: an import is a write like any other — the user's element
security, the write lock, the group commit, the engine apply and the live feed are the server's,
and a DuckDB file is held by the one server process anyway.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from server.imports.read import MEDIA_TYPES

TIMEOUT_S = 600.0  # a million rows take seconds; a slow link more
SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}


def media_type(path: Path, fmt: str | None) -> str:
    fmt = fmt or SUFFIXES.get(path.suffix.lower())
    for media, f in MEDIA_TYPES.items():
        if f.value == fmt:
            return media
    return "application/octet-stream"


def upload(
    server: str,
    token: str,
    model: str,
    cube: str,
    path: Path,
    params: list[tuple[str, str]],
    *,
    fmt: str | None = None,
    ca_file: str | None = None,
) -> httpx.Response:
    media = media_type(path, fmt)
    if media == "application/octet-stream":
        params = [*params, ("format", fmt or "csv")]
    verify: Any = ssl.create_default_context(cafile=ca_file) if ca_file else True
    path_ = f"/api/models/{quote(model, safe='')}/cubes/{quote(cube, safe='')}/import"
    url = server.rstrip("/") + path_
    return httpx.post(
        url,
        content=path.read_bytes(),
        params=tuple(params),
        headers={"Authorization": f"Bearer {token}", "Content-Type": media},
        verify=verify,
        timeout=TIMEOUT_S,
    )
