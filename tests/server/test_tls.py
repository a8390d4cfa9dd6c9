"""``plancube serve --ssl-keyfile/--ssl-certfile`` serves HTTPS (a certificate made here by the
openssl command); the real process answers only to its names, signs a browser in with a
``Secure`` session cookie, and writes the audit log."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from server.launch import free_port
from tests.conftest import unavailable
from tests.server.remote import grant, headers_of, login
from tests.signin import ADMIN

PASSWORD = "a long enough password"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        unavailable("the HTTPS test makes its certificate with the openssl command")
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    names = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost", "-addext", names),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_serve_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    key, cert = self_signed(tmp_path)
    port = free_port()
    log = tmp_path / "server.log"
    db = str(tmp_path / "t.duckdb")
    admin = headers_of(db, ADMIN)[ADMIN]
    command = [sys.executable, "-m", "server.cli", "serve", "--db", db]
    command += ["--port", str(port), "--ssl-keyfile", str(key), "--ssl-certfile", str(cert)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        with httpx.Client(base_url=url, verify=trust, headers=admin, timeout=5) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    health = client.get("/api/health")
                    break
                except httpx.HTTPError:
                    assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert health.headers["x-content-type-options"] == "nosniff"
            assert f"running at {url}/" in log.read_text()
            r = client.get("/api/health", headers={"host": "evil.example"})
            assert r.status_code == 400 and r.json()["error"]["code"] == "host_not_allowed"
            assert client.post("/api/models", json={"name": "m"}).status_code == 201
            r = client.post("/api/admin/users", json={"name": "ann", "password": PASSWORD})
            assert r.status_code == 201, r.text
        grant(url, admin, "m", "admin", "ann", verify=trust)
        with login(url, "ann", PASSWORD, verify=trust, timeout=5) as ann:
            (cookie,) = ann.cookies.jar
            assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
            assert ann.delete("/api/models/m").status_code == 204
        with httpx.Client(timeout=5) as plain:  # the certificate is not trusted by default
            try:
                plain.get(f"{url}/api/health")
                raise AssertionError("an untrusted certificate was accepted")
            except httpx.ConnectError:
                pass
    finally:
        proc.terminate()
        proc.wait(30)
    assert '"user":"ann","action":"model.delete","model":"m"' in log.read_text()
