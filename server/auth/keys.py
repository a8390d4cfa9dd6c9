"""An issuer's signing keys: OIDC discovery, then its JWKS, cached and refreshed sparingly.

A token names its signing key by ``kid``; the issuer publishes its current keys at the
``jwks_uri`` its discovery document (``/.well-known/openid-configuration``) points at. Both are
fetched once and cached, the way Microsoft's own middleware does it (``ConfigurationManager``):

- keys older than ``max_age`` are refetched before use (Entra rolls keys over every few weeks
  and publishes the next key well before it signs with it);
- a token naming a key we do not hold triggers one refetch — that is how a rotation shows up —
  but at most once per ``min_refresh``: anybody can mint a token with a made-up ``kid``, and a
  flood of them must not turn into a flood of requests to the identity provider;
- concurrent requests share one fetch in flight;
- when a refetch fails, the keys we have are kept (and used) until one succeeds; with no keys
  at all the answer is 503 ``auth_keys_unavailable``, not 401: it is not the token's fault.

Parsing a JWKS into keys is PyJWT's (``PyJWKSet``); the HTTP is httpx, as everywhere else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from server.auth.errors import KeysUnavailable, TokenUnknownKey

log = logging.getLogger("plancube.auth")

Verify = ssl.SSLContext | bool


class IssuerKeys:
    def __init__(
        self,
        metadata_url: str,
        *,
        min_refresh_s: float = 300.0,
        max_age_s: float = 12 * 3600.0,
        timeout_s: float = 10.0,
        verify: Verify = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metadata_url = metadata_url
        self.min_refresh_s = min_refresh_s
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self.verify = verify
        self.clock = clock
        self.metadata: dict[str, Any] = {}
        self.fetches = 0  # successful and failed, for tests and the benchmark
        self.generation = 0  # bumped whenever a fetch brings a different set of keys
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fingerprint = ""  # the JWKS's signing keys as canonical JSON
        self._fetched_at: float | None = None  # last success
        self._tried_at: float | None = None  # last attempt
        self._inflight: asyncio.Task[None] | None = None

    async def issuer(self) -> str:
        """The issuer the discovery document names (Entra's multi-tenant one is a template
        with ``{tenantid}`` in it)."""
        await self._ensure_fresh()
        return str(self.metadata["issuer"])

    async def key(self, kid: str) -> jwt.PyJWK:
        await self._ensure_fresh()
        found = self._keys.get(kid)
        if found is None and await self._refresh(every=self.min_refresh_s):
            found = self._keys.get(kid)
        if found is None:
            raise TokenUnknownKey(
                "the token is signed with a key the issuer does not publish (unknown kid)"
            )
        return found

    async def _ensure_fresh(self) -> None:
        if self._fetched_at is None:
            # never fetched (or every try failed): try again soon, not on every request
            await self._refresh(every=min(self.min_refresh_s, 10.0))
            if self._fetched_at is None:
                raise KeysUnavailable(
                    f"the identity provider's keys could not be fetched from {self.metadata_url}"
                )
        elif self.clock() - self._fetched_at >= self.max_age_s:
            await self._refresh(every=self.min_refresh_s)

    async def _refresh(self, every: float) -> bool:
        """Wait for the fetch in flight, or start one unless one started less than ``every``
        seconds ago; whether a fetch was waited for."""
        loop = asyncio.get_running_loop()
        task = self._inflight
        if task is None or task.done() or task.get_loop() is not loop:
            if self._tried_at is not None and self.clock() - self._tried_at < every:
                return False
            self._tried_at = self.clock()  # before any await: concurrent callers see it
            task = self._inflight = loop.create_task(self._fetch())
        await asyncio.shield(task)
        return True

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            async with httpx.AsyncClient(verify=self.verify, timeout=self.timeout_s) as http:
                r = await http.get(self.metadata_url)
                r.raise_for_status()
                metadata = r.json()
                if not isinstance(metadata.get("issuer"), str) or not isinstance(
                    metadata.get("jwks_uri"), str
                ):
                    raise ValueError("the discovery document names no issuer or jwks_uri")
                r = await http.get(metadata["jwks_uri"])
                r.raise_for_status()
                keys, fingerprint = _signing_keys(r.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            held = "keeping the keys held" if self._keys else "no keys held"
            log.warning(
                "fetching signing keys from %s failed (%s): %s", self.metadata_url, held, exc
            )
            return
        self.metadata = metadata
        if fingerprint != self._fingerprint:
            self.generation += 1
            self._fingerprint = fingerprint
        self._keys = keys
        self._fetched_at = self.clock()
        log.info("signing keys of %s: %s", metadata["issuer"], ", ".join(sorted(keys)))


def _signing_keys(jwks: Any) -> tuple[dict[str, jwt.PyJWK], str]:
    """The signature keys of a JWKS by kid (encryption keys and keys of algorithms PyJWT
    cannot use are left out), and the set as canonical JSON to tell a change by."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("the JWKS is not an object with a list of keys")
    signing = [
        k
        for k in jwks["keys"]
        if isinstance(k, dict) and k.get("use", "sig") == "sig" and k.get("kid")
    ]
    keys = {str(k.key_id): k for k in jwt.PyJWKSet.from_dict({"keys": signing}).keys}
    return keys, json.dumps(sorted(signing, key=lambda k: str(k["kid"])), sort_keys=True)
