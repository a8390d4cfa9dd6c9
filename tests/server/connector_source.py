"""A REST source for connector tests: a tiny Starlette app served by a real uvicorn on a free
port, in a thread. Its records, its faults (a 429, a 500), the token it wants and every request
it heard are the test's to set and read."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.launch import free_port

TOKEN = "s3cret-t0ken-Zq9"


@dataclass
class Source:
    url: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    # (path, page number) -> statuses to answer, in turn, before the page itself
    faults: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    always: int | None = None  # every request answers this status
    heard: list[dict[str, Any]] = field(default_factory=list)
    token: str = TOKEN

    def _page(
        self, request: Request, number: int
    ) -> tuple[list[dict[str, Any]], JSONResponse | None]:
        self.heard.append(
            {
                "path": request.url.path,
                "params": dict(request.query_params),
                "auth": request.headers.get("authorization"),
                "at": time.monotonic(),
            }
        )
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return [], JSONResponse({"error": "unauthorized"}, status_code=401)
        if self.always is not None:
            return [], JSONResponse({"error": "down"}, status_code=self.always)
        pending = self.faults.get((request.url.path, number), [])
        if pending:
            status = pending.pop(0)
            headers = {"Retry-After": "1"} if status == 429 else {}
            return [], JSONResponse({"error": status}, status_code=status, headers=headers)
        since = request.query_params.get("since")
        rows = [r for r in self.records if since is None or r["updated"] > int(since)]
        start = number * self.page_size
        return rows[start : start + self.page_size], None

    def app(self) -> Starlette:
        def next_link(request: Request) -> JSONResponse:
            number = int(request.query_params.get("p", "0"))
            rows, refused = self._page(request, number)
            if refused is not None:
                return refused
            more = (number + 1) * self.page_size < len(self._filtered(request))
            # the next link carries only its own page: the connector keeps `since` on it
            link = f"/items?p={number + 1}" if more else None
            return JSONResponse({"data": {"items": rows}, "next": link})

        def link_header(request: Request) -> JSONResponse:
            number = int(request.query_params.get("p", "0"))
            rows, refused = self._page(request, number)
            if refused is not None:
                return refused
            headers = {}
            if (number + 1) * self.page_size < len(self._filtered(request)):
                headers["Link"] = f'<{self.url}/linked?p={number + 1}>; rel="next"'
            return JSONResponse(rows, headers=headers)

        def paged(request: Request) -> JSONResponse:
            number = int(request.query_params.get("page", "1")) - 1
            rows, refused = self._page(request, number)
            return refused or JSONResponse({"results": rows})

        def offset(request: Request) -> JSONResponse:
            number = int(request.query_params.get("offset", "0")) // self.page_size
            rows, refused = self._page(request, number)
            return refused or JSONResponse({"results": rows})

        def cursor(request: Request) -> JSONResponse:
            number = int(request.query_params.get("cursor", "c0")[1:])
            rows, refused = self._page(request, number)
            if refused is not None:
                return refused
            more = (number + 1) * self.page_size < len(self._filtered(request))
            return JSONResponse(
                {"rows": rows, "meta": {"next": f"c{number + 1}" if more else None}}
            )

        return Starlette(
            routes=[
                Route("/items", next_link),
                Route("/linked", link_header),
                Route("/paged", paged),
                Route("/offset", offset),
                Route("/cursor", cursor),
            ]
        )

    def _filtered(self, request: Request) -> list[dict[str, Any]]:
        since = request.query_params.get("since")
        return [r for r in self.records if since is None or r["updated"] > int(since)]


@contextmanager
def serve(source: Source) -> Iterator[Source]:
    port = free_port()
    source.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        source.app(), host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    else:
        raise RuntimeError("the test source did not start")
    try:
        yield source
    finally:
        server.should_exit = True
        thread.join(timeout=10)
