"""The token attack table: every row is refused with 401, its stable code and
``WWW-Authenticate: Bearer error="invalid_token"``, and no token text reaches the logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.auth import InvalidToken, TokenValidator
from tests.auth.conftest import bearer_app, entra_validator
from tests.auth.idp import HOME_TENANT, OTHER_TENANT, Key, TestIdp


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def alg_none(idp: TestIdp) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": idp.keys[0].kid}
    return f"{_part(header)}.{_part(idp.access_claims())}."


def hs256_with_public_key(idp: TestIdp) -> str:
    """The classic key confusion: HMAC keyed with the RSA public key the JWKS publishes."""
    header = {"alg": "HS256", "typ": "JWT", "kid": idp.keys[0].kid}
    signing_input = f"{_part(header)}.{_part(idp.access_claims())}"
    mac = hmac.new(idp.keys[0].public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def unknown_kid(idp: TestIdp) -> str:
    return idp.access_token(key=Key.generate())


def tampered(idp: TestIdp) -> str:
    header, _, signature = idp.access_token(scp="access_as_user").split(".")
    forged = idp.access_claims(oid=str(uuid.uuid4()), roles=["Admin"])
    return f"{header}.{_part(forged)}.{signature}"


def now() -> int:
    return int(time.time())


ROWS: list[tuple[str, Callable[[TestIdp], str], str]] = [
    ("alg none", alg_none, "token_algorithm_not_allowed"),
    ("HS256 keyed with the RSA public key", hs256_with_public_key, "token_algorithm_not_allowed"),
    ("unknown kid", unknown_kid, "token_unknown_key"),
    ("expired", lambda i: i.access_token(iat=now() - 7200, exp=now() - 120), "token_expired"),
    (
        "not yet valid",
        lambda i: i.access_token(nbf=now() + 600, exp=now() + 4000),
        "token_not_yet_valid",
    ),
    ("wrong aud", lambda i: i.access_token(aud="api://another-api"), "token_wrong_audience"),
    (
        "wrong iss",
        lambda i: i.access_token(iss=f"https://login.microsoftonline.com/{HOME_TENANT}/v2.0"),
        "token_wrong_issuer",
    ),
    ("another tenant", lambda i: i.access_token(tenant=OTHER_TENANT), "token_wrong_tenant"),
    ("missing scope", lambda i: i.access_token(scp="User.Read"), "token_missing_scope"),
    ("tampered payload", tampered, "token_invalid_signature"),
    ("ID token as access token", lambda i: i.id_token(nonce="abc"), "token_not_access_token"),
    ("v1 token", lambda i: i.access_token(ver="1.0"), "token_wrong_version"),
    ("app token, no app roles accepted", lambda i: i.access_token(scp=None), "token_missing_scope"),
    ("no exp", lambda i: i.access_token(exp=None), "token_missing_claim"),
    ("not a JWT", lambda i: "not-a-token", "token_malformed"),
    ("garbage header", lambda i: "eyJ!!!.e30.", "token_malformed"),
]


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the server logged: the test's HTTP client logs the URLs it requests (which is
    exactly why a token in a query string is refused), so its records are not the server's."""
    return "\n".join(
        caplog.handler.format(r) for r in caplog.records if not r.name.startswith("httpx")
    )


def assert_refused(r: Any, code: str, token: str, caplog: pytest.LogCaptureFixture) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == code, r.text
    assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    for secret in (token, token.split(".")[-1]) if token.count(".") == 2 else (token,):
        if len(secret) > 20:
            assert secret not in server_log(caplog)
            assert secret not in r.text
            assert secret not in r.headers["www-authenticate"]


@pytest.mark.parametrize(("make", "code"), [pytest.param(m, c, id=n) for n, m, c in ROWS])
def test_attack_is_refused(
    make: Callable[[TestIdp], str],
    code: str,
    idp: TestIdp,
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert client.get("/me", headers={"Authorization": f"Bearer {idp.access_token()}"}).is_success
    token = make(idp)
    r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert_refused(r, code, token, caplog)
    assert f"bearer token refused: {code}" in caplog.text


def test_a_token_in_the_query_string_is_refused_even_beside_a_good_header(
    idp: TestIdp, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = idp.access_token()
    auth = {"Authorization": f"Bearer {token}"}
    for query in ({"access_token": token}, {"q": token}, {"token": "x"}):
        r = client.get("/me", params=query, headers=auth)
        assert_refused(r, "token_in_query", token, caplog)
    r = client.get("/me", params={"access_token": token})
    assert_refused(r, "token_in_query", token, caplog)


def test_no_header_is_401_without_an_error_attribute(client: TestClient) -> None:
    r = client.get("/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_missing"
    assert r.headers["www-authenticate"] == 'Bearer realm="plancube"'
    r = client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_malformed"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rotated_keys_the_old_token_is_refused_and_the_new_key_fetched_once(
    idp: TestIdp, validator: TokenValidator
) -> None:
    clock = Clock()
    validator.keys.clock = clock
    with TestClient(bearer_app(validator)) as client:

        def me(token: str) -> Any:
            return client.get("/me", headers={"Authorization": f"Bearer {token}"})

        old = idp.access_token()
        before = idp.jwks_fetches
        assert me(old).status_code == 200
        assert idp.jwks_fetches == before + 1
        new_key = idp.rotate()  # the old key is gone from the JWKS
        clock.now += validator.keys.min_refresh_s
        new = idp.access_token(key=new_key)
        for _ in range(3):
            assert me(new).status_code == 200
        assert idp.jwks_fetches == before + 2  # the new key, fetched once
        r = me(old)
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_unknown_key"
        assert idp.jwks_fetches == before + 2
        clock.now += 10 * validator.keys.min_refresh_s  # a later look does not bring it back
        assert me(old).json()["error"]["code"] == "token_unknown_key"
        assert me(new).status_code == 200
        assert idp.jwks_fetches == before + 3


def test_a_flood_of_unknown_kids_fetches_the_keys_a_bounded_number_of_times(
    idp: TestIdp, validator: TokenValidator
) -> None:
    clock = Clock()
    validator.keys.clock = clock
    bogus = [idp.access_token(key=Key(uuid.uuid4().hex, idp.keys[0].private)) for _ in range(300)]

    async def flood(tokens: list[str]) -> list[str]:
        async def one(token: str) -> str:
            try:
                await validator.validate(token)
            except InvalidToken as exc:
                return exc.code
            return "accepted"

        return await asyncio.gather(*(one(t) for t in tokens))

    before = idp.jwks_fetches
    assert set(asyncio.run(flood(bogus[:100]))) == {"token_unknown_key"}
    assert idp.jwks_fetches == before + 1  # a cold cache: one fetch shared by 100 requests
    assert set(asyncio.run(flood(bogus[100:200]))) == {"token_unknown_key"}
    assert idp.jwks_fetches == before + 1  # within min_refresh: no fetch at all
    clock.now += validator.keys.min_refresh_s
    assert set(asyncio.run(flood(bogus[200:]))) == {"token_unknown_key"}
    assert idp.jwks_fetches == before + 2  # one per min_refresh, however many kids


def test_a_token_too_large_is_refused_before_it_is_parsed(client: TestClient) -> None:
    token = "eyJ" + "a" * 20_000 + ".e30.x"
    r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_malformed"


def test_the_validator_is_refused_the_key_of_another_issuer(idp: TestIdp) -> None:
    """The keys come from the configured authority's discovery, not from anything in the
    token: a token naming another jku or x5u is judged by our keys."""
    header = {"jku": "https://attacker.example/keys", "x5u": "https://attacker.example/c"}
    attacker = Key.generate()
    token = idp.sign(idp.access_claims(), key=attacker, header=header)
    with TestClient(bearer_app(entra_validator(idp))) as client:
        r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.json()["error"]["code"] == "token_unknown_key"
