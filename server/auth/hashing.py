"""Password hashes: argon2id with argon2-cffi's defaults, and the one password rule.

argon2id is what OWASP recommends first for password storage; argon2-cffi's ``PasswordHasher``
defaults (64 MiB, 3 passes, 4 lanes — about 0.1 s on a small server) follow RFC 9106's second
recommended setting. The hash text carries its parameters, so raising them later needs no
migration: a hash made with older ones is redone at the next good sign-in (``needs_rehash``).

The rule is length, as NIST SP 800-63B asks, and nothing about character classes: at least
``MIN_LENGTH`` characters. A password is NFC-normalized before it is hashed or checked, so the
same text typed on two keyboards (a composed "é" or an "e" and a combining accent) is one password.
"""

from __future__ import annotations

import secrets
import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from server.errors import WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is only a way to burn CPU

_hasher = PasswordHasher()


def _text(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def check_policy(password: str) -> None:
    n = len(_text(password))
    if n < MIN_LENGTH:
        raise WeakPassword(
            f"a password needs at least {MIN_LENGTH} characters (this one has {n}); a few "
            "unrelated words make a long one that is easy to remember",
            min_length=MIN_LENGTH,
        )
    if n > MAX_LENGTH:
        raise WeakPassword(
            f"a password may have at most {MAX_LENGTH} characters", max_length=MAX_LENGTH
        )


def hash_password(password: str) -> str:
    check_policy(password)
    return _hasher.hash(_text(password))


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; with no hash (no such user, no password set)
    a dummy one is checked, so the answer takes as long either way."""
    candidate = _text(password)[: MAX_LENGTH + 1]
    try:
        return _hasher.verify(stored or _dummy(), candidate) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def rehash(password: str) -> str:
    """A hash with today's parameters of a password that just signed in (not held to today's
    rule: it was accepted when it was set)."""
    return _hasher.hash(_text(password))


@cache
def _dummy() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))
