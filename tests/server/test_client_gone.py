"""A client that hangs up halfway through sending a body (Ctrl+C in an upload) is not the
server's fault: one line in the log, no traceback, nothing written — on a real server process."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from server.launch import launched
from tests.server.remote import headers_of
from tests.signin import ADMIN

MODEL = {
    "name": "m",
    "dimensions": [{"name": "D", "elements": ["a", "b"]}],
    "cubes": [{"name": "C", "dimensions": ["D"]}],
}


def test_a_body_cut_short_is_logged_in_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "plan.duckdb")
    log = tmp_path / "server.log"
    headers = headers_of(db, ADMIN)[ADMIN]
    with launched(["serve", "--db", db], log) as server:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
            assert c.post("/api/models/import", json=MODEL).status_code == 201
        url = urlsplit(server.url)
        with socket.create_connection((url.hostname, url.port)) as s:
            head = (
                "POST /api/models/m/cubes/C/import HTTP/1.1\r\n"
                f"Host: {url.hostname}:{url.port}\r\nContent-Type: text/csv\r\n"
                f"Authorization: {headers['Authorization']}\r\n"
                "Content-Length: 1000000\r\n\r\nD,value\r\na,1\r\n"
            )
            s.sendall(head.encode())
            time.sleep(0.5)
        deadline = time.monotonic() + 10
        while "disconnected" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
            assert c.get("/api/models/m/commits").json() == []  # nothing written
    text = log.read_text()
    assert "the client disconnected before its body arrived" in text
    assert "Traceback" not in text and "incident" not in text, text
