"""Tokens already verified, remembered until they expire, so a repeated token costs no RSA.

A client sends the same access token with every request for its lifetime (an hour, for Entra),
so after the first request the signature and claim checks would only repeat themselves. This
cache keeps the ``Principal`` a token was found to speak for, keyed by a SHA-256 of the whole
token text (never the text itself), with the token's ``exp``:

- a hit checks ``exp`` again (with the same leeway) and refuses an expired token as
  ``token_expired``, exactly as a full validation would;
- entries belong to one generation of the issuer's key set: when a refetch brings a different
  set (a key rotated out), every entry is forgotten, so a token whose key is gone is refused;
- refusals are never cached (an attacker's junk gets no memory), and the cache is bounded
  (least recently used entries go first).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from server.auth.errors import TokenExpired
from server.auth.principal import Principal

DEFAULT_SIZE = 10_000  # users signed in at once, times the tokens each may hold


class VerifiedTokens:
    def __init__(self, size: int = DEFAULT_SIZE, clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[bytes, tuple[Principal, float, int]] = OrderedDict()

    def get(self, token: str, generation: int, leeway_s: float) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        entry = self._entries.get(digest)
        if entry is None:
            return None
        principal, exp, of = entry
        if of != generation:
            self._entries.clear()  # the key set changed: nothing verified before holds
            return None
        if self.clock() > exp + leeway_s:
            del self._entries[digest]
            raise TokenExpired("the token has expired")
        self._entries.move_to_end(digest)
        return principal

    def put(self, token: str, principal: Principal, exp: float, generation: int) -> None:
        if self.size <= 0:
            return
        self._entries[hashlib.sha256(token.encode()).digest()] = (principal, exp, generation)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
