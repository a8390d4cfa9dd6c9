"""A token verified once is remembered until it expires, and forgotten when keys rotate."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.auth import InvalidToken
from server.auth.verified import VerifiedTokens
from tests.auth.conftest import entra_validator
from tests.auth.idp import TestIdp


def test_a_repeated_token_is_verified_once_and_still_expires(
    idp: TestIdp, monkeypatch: pytest.MonkeyPatch
) -> None:
    validator = entra_validator(idp, PLANCUBE_AUTH_LEEWAY_SECONDS="0")
    token = idp.access_token(exp=int(time.time()) + 60)
    first = asyncio.run(validator.validate(token))
    calls = []
    monkeypatch.setattr(validator, "_validate", lambda t: calls.append(t))
    assert asyncio.run(validator.validate(token)) is first and calls == []
    validator.verified.clock = lambda: time.time() + 61  # type: ignore[method-assign]
    with pytest.raises(InvalidToken) as refused:
        asyncio.run(validator.validate(token))
    assert refused.value.code == "token_expired" and len(validator.verified) == 0


def test_the_cache_is_bounded_and_keeps_no_token_text(idp: TestIdp) -> None:
    cache = VerifiedTokens(size=2)
    validator = entra_validator(idp)
    tokens = [idp.access_token() for _ in range(3)]
    for token in tokens:
        cache.put(token, asyncio.run(validator.validate(token)), time.time() + 60, 1)
    assert len(cache) == 2 and cache.get(tokens[0], 1, 0) is None
    assert cache.get(tokens[2], 1, 0) is not None
    assert all(token not in repr(cache._entries) for token in tokens)
    assert cache.get(tokens[2], 2, 0) is None and len(cache) == 0  # another key generation
