"""``plancube import``: a file sent to a server's import route, as the signed-in user.

The command talks to a running server (with the token ``plancube login`` kept for it) rather
than opening the database itself (``--background``: as a job, followed with a progress bar,
cancelled by Ctrl+C; ``server.jobs``): an import is a write like any other — the user's element
security, the write lock, the group commit, the engine apply and the live feed are the server's,
and a DuckDB file is held by the one server process anyway.
"""

from __future__ import annotations

import ssl
import sys
import time
from pathlib import Path
from typing import Any, TextIO
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


POLL_S = 0.25
_pause = time.sleep  # between polls (where a Ctrl+C is mostly heard)


def _bar(job: dict[str, Any], width: int = 30) -> str:
    filled = int(width * job["percent"] / 100)
    rate = f"{job['rows_per_s']:,.0f} rows/s" if job.get("rows_per_s") else ""
    eta = f"{job['eta_s']:.0f}s left" if job.get("eta_s") else ""
    info = "  ".join(x for x in (job["phase"], rate, eta) if x)
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {job['percent']:3d}%  {info}\x1b[K"


def follow(
    server: str,
    token: str,
    model: str,
    cube: str,
    path: Path,
    params: list[tuple[str, str]],
    *,
    fmt: str | None = None,
    ca_file: str | None = None,
    out: TextIO | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run the import as a job on the server, with a progress bar on ``out``; Ctrl+C cancels
    it (nothing is written unless its commit had begun). The answer is what the synchronous
    import would have answered: (200, report), (its error status, the error and report), or
    (499, the job) when it was cancelled."""
    r = upload(
        server,
        token,
        model,
        cube,
        path,
        [*params, ("background", "true"), ("file_name", path.name)],
        fmt=fmt,
        ca_file=ca_file,
    )
    if r.status_code != 202:
        return r.status_code, r.json()
    out = out or sys.stderr
    verify: Any = ssl.create_default_context(cafile=ca_file) if ca_file else True
    url = server.rstrip("/") + r.json()["links"]["self"]
    with httpx.Client(
        headers={"Authorization": f"Bearer {token}"}, verify=verify, timeout=TIMEOUT_S
    ) as http:
        job = r.json()
        cancelling = False
        while job["state"] in ("queued", "running"):
            out.write(_bar(job))
            out.flush()
            try:
                _pause(POLL_S)
                job = http.get(url).json()
            except KeyboardInterrupt:
                if cancelling:
                    raise
                cancelling = True
                c = http.delete(url)
                note = "cancelling…" if c.status_code == 202 else c.json()["error"]["message"]
                out.write(f"\n{note}\n")
        out.write(_bar(job) + "\n")
    report: dict[str, Any] = job.get("report") or {}
    if job["state"] == "succeeded":
        return 200, report
    if job["state"] == "cancelled":
        return 499, {"error": {"code": "job_cancelled", "message": job["message"]}}
    err = report.get("error") or {"code": "job_failed", "message": job["message"]}
    return 422, {**report, "error": err}
