"""What validating a bearer token costs a request, with the issuer's keys cached.

The target (issue 11): p50 overhead ≤ 0.3 ms per request. Measured side by side in one run:

- ``jwt.decode``: PyJWT's signature and lifetime check alone, the floor;
- ``validate``: ``EntraValidator.validate`` (algorithm allow-list, key by kid from the cache,
  signature, exp/nbf, then issuer, tenant, kind, audience, scope) → a ``Principal``;
- ``request (open)``, ``request (new token)`` and ``request (same token)``: one in-process ASGI
  request to a route without, and with, the ``bearer_principal`` dependency — with a token seen
  for the first time, and with the one token a client sends for its lifetime (verified once,
  then found in ``server.auth.verified``), interleaved; the difference of medians is the
  overhead a signed-in request pays.

Tokens come from the test IdP (tests/auth/idp.py), served on 127.0.0.1 over TLS; its JWKS is
fetched once, before the timings (the fetch count is checked). Tokens are RS256 with 2048-bit
keys, Entra-v2 shaped (about 1.2 KB).

    python -m benchmarks.auth [--requests 2000] [--out benchmarks/results/auth.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, FastAPI

from benchmarks.api_latency import machine
from server.auth import (
    AuthSettings,
    Principal,
    bearer_principal,
    token_validator,
    use_token_validator,
)
from tests.auth.idp import API_CLIENT_ID, HOME_TENANT, served_idp

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MS = 0.3


def quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1e3, 4),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1e3, 4),
    }


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def run(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, served_idp(Path(tmp)) as idp:
        settings = AuthSettings.from_env(
            {
                "PLANCUBE_AUTH": "entra",
                "PLANCUBE_ENTRA_AUTHORITY": idp.url,
                "PLANCUBE_ENTRA_TENANT_ID": HOME_TENANT,
                "PLANCUBE_ENTRA_CLIENT_ID": API_CLIENT_ID,
            }
        )
        validator = token_validator(settings, verify=idp.ssl_context())
        assert validator is not None
        tokens = [idp.access_token() for _ in range(n)]
        await validator.validate(tokens[0])  # the one JWKS fetch, outside the timings
        fetches = idp.jwks_fetches
        key = await validator.keys.key(idp.keys[0].kid)

        app = FastAPI()
        use_token_validator(app, validator)

        @app.get("/open")
        async def open_() -> dict[str, str]:
            return {"key": "anonymous"}

        @app.get("/me")
        async def me(principal: Annotated[Principal, Depends(bearer_principal)]) -> dict[str, str]:
            return {"key": principal.key}

        floor: list[float] = []
        validate: list[float] = []
        for token in tokens:
            start = time.perf_counter()
            jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False}, leeway=60)
            floor.append(time.perf_counter() - start)
            validate.append(await timed(partial(validator.validate, token)))

        # through a route: open, signed in with a token seen for the first time, and signed in
        # with a token already verified (a client sends the same token for its lifetime)
        opened: list[float] = []
        first: list[float] = []
        repeated: list[float] = []
        fresh = [idp.access_token() for _ in range(n)]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(50):  # warm-up
                await client.get("/open")
                await client.get("/me", headers={"Authorization": f"Bearer {tokens[0]}"})
            again = {"Authorization": f"Bearer {tokens[0]}"}
            for token in fresh:
                headers = {"Authorization": f"Bearer {token}"}
                # the open route gets the same header: its bytes are not sign-in's cost
                opened.append(await timed(partial(client.get, "/open", headers=headers)))
                first.append(await timed(partial(client.get, "/me", headers=headers)))
                repeated.append(await timed(partial(client.get, "/me", headers=again)))
        assert idp.jwks_fetches == fetches, "the keys were fetched again during the timings"
        results = {
            "jwt.decode": quantiles(floor),
            "validate (first sight)": quantiles(validate),
            "request (open)": quantiles(opened),
            "request (new token)": quantiles(first),
            "request (same token)": quantiles(repeated),
        }
        base = results["request (open)"]["p50_ms"]
        overhead = results["request (same token)"]["p50_ms"] - base
        overhead_new = results["request (new token)"]["p50_ms"] - base
        return {
            "benchmark": "auth",
            "requests": n,
            "machine": machine(),
            "jwks_fetches_during_timings": idp.jwks_fetches - fetches,
            "timings": results,
            "request_overhead_p50_ms": round(overhead, 4),
            "request_overhead_new_token_p50_ms": round(overhead_new, 4),
            "target_p50_overhead_ms": TARGET_MS,
            "met": overhead <= TARGET_MS,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=RESULTS / "auth.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.requests))
    print(f"{'what':<22} {'p50 ms':>9} {'p95 ms':>9}")
    for name, q in result["timings"].items():
        print(f"{name:<22} {q['p50_ms']:>9.4f} {q['p95_ms']:>9.4f}")
    met = "met" if result["met"] else "NOT met"
    print(
        f"signed-in request overhead, p50: {result['request_overhead_p50_ms']:.4f} ms with the "
        f"same token (target ≤ {TARGET_MS} ms: {met}), "
        f"{result['request_overhead_new_token_p50_ms']:.4f} ms with a token seen for the first "
        "time; JWKS fetches during the timings: "
        f"{result['jwks_fetches_during_timings']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
