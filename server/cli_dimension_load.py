"""``plancube load-dimension``: a parent/child or levels file sent to a server's dimension load
route, as the user ``plancube login`` signed in (docs/dimension-loads.md)."""

from __future__ import annotations

import argparse
import ssl
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from server.imports.client import TIMEOUT_S, media_type


def add_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "load-dimension",
        help="load a dimension's elements from a parent/child or levels CSV or XLSX file, "
        "through a server (as the user plancube login signed in); docs/dimension-loads.md",
    )
    sp.add_argument("file", type=Path)
    sp.add_argument("--server", required=True, metavar="URL", help="the plancube server")
    sp.add_argument("--ca-file", metavar="FILE", help="CA certificates to trust for the server")
    sp.add_argument("--model", required=True)
    sp.add_argument("--dimension", required=True)
    sp.add_argument("--format", choices=["csv", "xlsx"], help="default: by suffix")
    sp.add_argument("--layout", choices=["auto", "parent-child", "levels"], default="auto")
    sp.add_argument("--mode", choices=["incremental", "replace"], default="incremental")
    sp.add_argument("--multiple-parents", action="store_true", help="allow alternate rollups")
    sp.add_argument("--remove-orphans", action="store_true", help="remove unmentioned elements")
    sp.add_argument("--dry-run", action="store_true", help="validate and report only")
    sp.add_argument("--delimiter")
    sp.add_argument("--encoding", choices=["utf-8", "cp1252"])
    sp.add_argument("--sheet")
    sp.add_argument("--report", type=Path, metavar="CSV", help="write every problem here")
    sp.set_defaults(func=cmd_load_dimension)


def _post(args: argparse.Namespace, token: str, params: list[tuple[str, str]]) -> httpx.Response:
    media = media_type(args.file, args.format)
    if media == "application/octet-stream":
        params = [*params, ("format", args.format or "csv")]
    verify: Any = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else True
    path = f"/api/models/{quote(args.model, safe='')}/dimensions/"
    path += f"{quote(args.dimension, safe='')}/load"
    return httpx.post(
        args.server.rstrip("/") + path,
        content=args.file.read_bytes(),
        params=tuple(params),
        headers={"Authorization": f"Bearer {token}", "Content-Type": media},
        verify=verify,
        timeout=TIMEOUT_S,
    )


def cmd_load_dimension(args: argparse.Namespace) -> int:
    from server.auth import client
    from server.cli import _signed_in

    def run() -> int:
        params = [("layout", args.layout), ("mode", args.mode)]
        for name in ("delimiter", "encoding", "sheet"):
            if getattr(args, name):
                params.append((name, getattr(args, name)))
        for flag in ("multiple_parents", "remove_orphans", "dry_run"):
            if getattr(args, flag):
                params.append((flag, "true"))
        token = client.access_token(args.server, ca_file=args.ca_file)
        r = _post(args, token, params)
        body = r.json()
        if args.report is not None:
            csv = _post(args, token, [*params, ("report", "csv"), ("dry_run", "true")])
            args.report.write_bytes(csv.content)
        if r.status_code != 200:
            err = body.get("error", {})
            print(f"error [{err.get('code')}]: {err.get('message')}", file=sys.stderr)
            for e in err.get("details", {}).get("errors", [])[:20]:
                line = f"  row {e['row']}, {e['column']}: {e['value']!r} {e['reason']} "
                print((line + e["detail"]).rstrip(), file=sys.stderr)
            return 1
        what = "would add" if args.dry_run else "added"
        print(
            f"{what} {body['added']}, moved {body['moved']}, reweighted {body['reweighted']}, "
            f"updated attributes of {body['attributes_updated']}, removed {body['removed']}; "
            f"{body['orphans']} orphan(s) from {body['rows']} rows"
        )
        for name in body["orphan_elements"][:20]:
            print(f"  orphan: {name}")
        return 0

    return _signed_in(run)
