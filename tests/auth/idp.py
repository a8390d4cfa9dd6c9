"""A test identity provider on 127.0.0.1, shaped like Entra ID v2, that msal itself talks to.

It serves, over HTTPS (msal refuses an authority that is not ``https://``), for any tenant id
in the path, the endpoints msal and the server's validator use:

    /{tenant}/v2.0/.well-known/openid-configuration   OIDC discovery (``/organizations``: the
                                                      multi-tenant issuer template ``{tenantid}``)
    /{tenant}/discovery/v2.0/keys                     the JWKS (counted: ``jwks_fetches``)
    /{tenant}/oauth2/v2.0/authorize                   auto-approves the test user and answers
                                                      with a code (PKCE S256 required), by a
                                                      redirect or a form_post page
    /{tenant}/oauth2/v2.0/devicecode                  device authorization
    /{tenant}/oauth2/v2.0/token                       authorization_code, device_code, refresh_token
    /devicelogin?user_code=…                          "the user" approving a device code

and a Keycloak-shaped realm for the generic OIDC validator (``/realms/test``, tokens minted with
``oidc_token``), with the same authorize, device-code and token endpoints under
``/realms/test/protocol/openid-connect/`` for its client ``plancube-web``. A token request that
carries a ``client_secret`` (a confidential client) must carry ``CLIENT_SECRET``.

Keys are RSA keys generated here; ``rotate()`` replaces them. The TLS certificate comes from a
throwaway CA generated here too: ``ca_file`` for requests (msal), ``ssl_context()`` for httpx.
Tokens for the attack table are minted with ``access_token`` /
``id_token`` / ``sign``, with any claim or header overridden.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import ipaddress
import json
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

HOME_TENANT = "11111111-1111-4111-8111-111111111111"
OTHER_TENANT = "22222222-2222-4222-8222-222222222222"
API_CLIENT_ID = "aaaaaaaa-0000-4000-8000-00000000a11a"  # the API app registration
CLIENT_ID = "cccccccc-0000-4000-8000-00000000c11c"  # the public client (CLI, add-in, web)
CLIENT_SECRET = "the-web-client-secret"  # when a client sends one, it must be this
REALM = "realm"  # the Keycloak-shaped realm, where a tenant would be
REALM_CLIENT_ID = "plancube-web"
API_SCOPE = f"api://{API_CLIENT_ID}/access_as_user"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class User:
    oid: str = "0f0f0f0f-1234-4567-89ab-0123456789ab"
    name: str = "Pat Planner"
    username: str = "pat@contoso.example"
    groups: list[str] = field(default_factory=lambda: ["g-finance"])


@dataclass
class Key:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> Key:
        return cls(uuid.uuid4().hex[:16], rsa.generate_private_key(65537, 2048))

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestIdp:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, directory: Path) -> None:
        self.user = User()
        self.keys = [Key.generate()]
        self.jwks_fetches = 0
        self.token_requests: list[str] = []  # grant types, in order
        self.ca_file, self._cert_file, self._key_file = _certificates(directory)
        self.url = ""  # https://127.0.0.1:PORT once served
        self._codes: dict[str, dict[str, Any]] = {}
        self._devices: dict[str, dict[str, Any]] = {}  # by device_code
        self._refresh: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- what tests use ----------------------------------------------------------------------
    def authority(self, tenant: str = HOME_TENANT) -> str:
        return f"{self.url}/{tenant}"

    def issuer(self, tenant: str = HOME_TENANT) -> str:
        return f"{self.url}/{tenant}/v2.0"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def rotate(self, keep_old: bool = False) -> Key:
        key = Key.generate()
        self.keys = [key, *self.keys] if keep_old else [key]
        return key

    def sign(
        self, claims: dict[str, Any], key: Key | None = None, header: dict[str, Any] | None = None
    ) -> str:
        key = key or self.keys[0]
        return jwt.encode(
            claims, key.private, algorithm="RS256", headers={"kid": key.kid, **(header or {})}
        )

    def access_claims(self, tenant: str = HOME_TENANT, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "aud": API_CLIENT_ID,
            "iss": self.issuer(tenant),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "aio": _b64(secrets.token_bytes(24)),
            "azp": CLIENT_ID,
            "azpacr": "0",
            "name": self.user.name,
            "oid": self.user.oid,
            "preferred_username": self.user.username,
            "rh": "0.AAAA.",
            "scp": "access_as_user",
            "sub": _b64(hashlib.sha256(f"{self.user.oid}{CLIENT_ID}".encode()).digest()[:24]),
            "tid": tenant,
            "uti": _b64(secrets.token_bytes(16)),
            "ver": "2.0",
            "groups": list(self.user.groups),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def access_token(self, tenant: str = HOME_TENANT, key: Key | None = None, **claims: Any) -> str:
        return self.sign(self.access_claims(tenant, **claims), key)

    def id_token(self, tenant: str = HOME_TENANT, nonce: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "aud": CLIENT_ID,
            "iss": self.issuer(tenant),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": self.user.name,
            "oid": self.user.oid,
            "preferred_username": self.user.username,
            "sub": _b64(hashlib.sha256(f"{self.user.oid}{CLIENT_ID}".encode()).digest()[:24]),
            "tid": tenant,
            "ver": "2.0",
            "nonce": nonce,
            **claims,
        }
        return self.sign({k: v for k, v in body.items() if v is not None})

    def oidc_issuer(self) -> str:
        return f"{self.url}/realms/test"

    def oidc_token(self, id_token: bool = False, **overrides: Any) -> str:
        """A Keycloak-shaped token of the realm: an access token (``typ: at+jwt``) or an ID
        token."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.oidc_issuer(),
            "sub": "5b0e2c1a-kc-user",
            "aud": "account" if id_token else "plancube",
            "iat": now,
            "exp": now + 300,
            "azp": "plancube-web",
            "scope": "openid profile plancube",
            "name": self.user.name,
            "preferred_username": "pat",
            "email": "pat@example.org",
            "groups": ["/finance"],
            "realm_access": {"roles": ["planner"]},
        }
        if id_token:
            claims.update(typ="ID", nonce="n-0S6_WzA2Mj", at_hash="x")
        claims.update(overrides)
        header = {} if id_token else {"typ": "at+jwt"}
        return self.sign({k: v for k, v in claims.items() if v is not None}, header=header)

    # -- the HTTP endpoints ------------------------------------------------------------------
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/realms/test/.well-known/openid-configuration", self._realm_discovery),
                Route("/realms/test/protocol/openid-connect/certs", self._jwks),
                Route("/realms/test/protocol/openid-connect/auth", self._authorize),
                Route(
                    "/realms/test/protocol/openid-connect/auth/device",
                    self._devicecode,
                    methods=["POST"],
                ),
                Route("/realms/test/protocol/openid-connect/token", self._token, methods=["POST"]),
                Route("/devicelogin", self._device_login),
                Route("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery),
                Route("/{tenant}/discovery/v2.0/keys", self._jwks),
                Route("/{tenant}/oauth2/v2.0/authorize", self._authorize),
                Route("/{tenant}/oauth2/v2.0/devicecode", self._devicecode, methods=["POST"]),
                Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            ]
        )

    async def _discovery(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        base = f"{self.url}/{tenant}"
        multi = tenant in {"organizations", "common"}
        return JSONResponse(
            {
                "issuer": f"{self.url}/{{tenantid}}/v2.0" if multi else f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _realm_discovery(self, _: Request) -> Response:
        iss = self.oidc_issuer()
        return JSONResponse(
            {
                "issuer": iss,
                "jwks_uri": f"{iss}/protocol/openid-connect/certs",
                "authorization_endpoint": f"{iss}/protocol/openid-connect/auth",
                "token_endpoint": f"{iss}/protocol/openid-connect/token",
                "device_authorization_endpoint": f"{iss}/protocol/openid-connect/auth/device",
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _jwks(self, _: Request) -> Response:
        with self._lock:
            self.jwks_fetches += 1
        return JSONResponse({"keys": [k.jwk() for k in self.keys]})

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return PlainTextResponse("code flow with PKCE (S256) only", status_code=400)
        tenant = _tenant(request)
        if q.get("client_id") != _client_of(tenant) or not q.get("code_challenge"):
            return PlainTextResponse("unknown client or no code_challenge", status_code=400)
        code = secrets.token_urlsafe(24)
        self._codes[code] = {
            "tenant": tenant,
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
            "scope": q.get("scope", ""),
            "nonce": q.get("nonce"),
        }
        answer = {"code": code, "state": q.get("state", ""), "client_info": self._client_info()}
        if q.get("response_mode") == "form_post":  # what a browser posts back to the client
            fields = "".join(
                f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
                for k, v in answer.items()
            )
            return HTMLResponse(
                f'<form method="post" action="{html.escape(q["redirect_uri"])}">{fields}'
                "</form><script>document.forms[0].submit()</script>"
            )
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(answer)}", status_code=302)

    async def _devicecode(self, request: Request) -> Response:
        form = await _form(request)
        tenant = _tenant(request)
        if form.get("client_id") != _client_of(tenant):
            return _oauth_error("unauthorized_client", "unknown client")
        device_code = secrets.token_urlsafe(32)
        user_code = secrets.token_hex(4).upper()
        self._devices[device_code] = {
            "tenant": tenant,
            "user_code": user_code,
            "scope": form.get("scope", ""),
            "approved": False,
        }
        verify = f"{self.url}/devicelogin"
        return JSONResponse(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verify,
                "expires_in": 900,
                "interval": 1,
                "message": f"To sign in, open {verify} and enter the code {user_code}.",
            }
        )

    async def _device_login(self, request: Request) -> Response:
        """The test user entering the code shown to them, and consenting."""
        code = request.query_params.get("user_code", "")
        for device in self._devices.values():
            if device["user_code"] == code:
                device["approved"] = True
                return PlainTextResponse("signed in; you may close this window")
        return PlainTextResponse("unknown code", status_code=404)

    async def _token(self, request: Request) -> Response:
        form = await _form(request)
        grant = form.get("grant_type", "")
        self.token_requests.append(grant)
        tenant = _tenant(request)
        if form.get("client_id") != _client_of(tenant):
            return _oauth_error("invalid_client", "unknown client")
        if "client_secret" in form and form["client_secret"] != CLIENT_SECRET:
            return _oauth_error("invalid_client", "wrong client secret")
        if grant == "authorization_code":
            grant_of = self._codes.pop(form.get("code", ""), None)
            if grant_of is None or grant_of["redirect_uri"] != form.get("redirect_uri"):
                return _oauth_error("invalid_grant", "unknown or used code, or wrong redirect_uri")
            verifier = form.get("code_verifier", "")
            if _b64(hashlib.sha256(verifier.encode()).digest()) != grant_of["challenge"]:
                return _oauth_error("invalid_grant", "PKCE: code_verifier does not match")
        elif grant == DEVICE_GRANT:
            grant_of = self._devices.get(form.get("device_code", ""))
            if grant_of is None:
                return _oauth_error("expired_token", "unknown device code")
            if not grant_of["approved"]:
                return _oauth_error("authorization_pending", "the user has not signed in yet")
            del self._devices[form["device_code"]]
        elif grant == "refresh_token":
            grant_of = self._refresh.pop(form.get("refresh_token", ""), None)
            if grant_of is None:
                return _oauth_error("invalid_grant", "unknown refresh token")
        else:
            return _oauth_error("unsupported_grant_type", grant)
        return JSONResponse(self._tokens(grant_of.get("tenant", tenant), grant_of))

    def _tokens(self, tenant: str, grant: dict[str, Any]) -> dict[str, Any]:
        if tenant == REALM:
            return self._realm_tokens(grant)
        requested = grant.get("scope", "").split()
        api = [s for s in requested if s.startswith(f"api://{API_CLIENT_ID}/")]
        if tenant in {"organizations", "common"}:
            tenant = HOME_TENANT  # the tenant the test user lives in
        refresh = secrets.token_urlsafe(32)
        self._refresh[refresh] = {"tenant": tenant, "scope": grant.get("scope", "")}
        return {
            "token_type": "Bearer",
            "scope": " ".join(api),
            "expires_in": 3600,
            "ext_expires_in": 3600,
            "access_token": self.access_token(
                tenant, scp=" ".join(s.rsplit("/", 1)[1] for s in api) or None
            ),
            "refresh_token": refresh,
            "id_token": self.id_token(tenant, nonce=grant.get("nonce")),
            "client_info": self._client_info(tenant),
        }

    def _realm_tokens(self, grant: dict[str, Any]) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(32)
        self._refresh[refresh] = {"tenant": REALM, "scope": grant.get("scope", "")}
        return {
            "token_type": "Bearer",
            "scope": grant.get("scope", ""),
            "expires_in": 300,
            "access_token": self.oidc_token(),
            "refresh_token": refresh,
            "id_token": self.oidc_token(
                id_token=True, aud=REALM_CLIENT_ID, nonce=grant.get("nonce"), at_hash=None
            ),
        }

    def _client_info(self, tenant: str = HOME_TENANT) -> str:
        return _b64(json.dumps({"uid": self.user.oid, "utid": tenant}).encode())


def _tenant(request: Request) -> str:
    return str(request.path_params.get("tenant", REALM))


def _client_of(tenant: str) -> str:
    return REALM_CLIENT_ID if tenant == REALM else CLIENT_ID


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (without python-multipart)."""
    return dict(parse_qsl((await request.body()).decode()))


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


@contextmanager
def served_idp(directory: Path) -> Iterator[TestIdp]:
    """The test IdP behind uvicorn with TLS on a free port of 127.0.0.1, in a thread."""
    idp = TestIdp(directory)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    idp.url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    config = uvicorn.Config(
        idp.app(),
        log_level="warning",
        ssl_certfile=str(idp._cert_file),
        ssl_keyfile=str(idp._key_file),
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the test IdP did not start"
            time.sleep(0.01)
        yield idp
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate it signed for 127.0.0.1 and localhost."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(65537, 2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plancube test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(65537, 2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (
        directory / "ca.pem",
        directory / "idp.pem",
        directory / "idp.key",
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file
