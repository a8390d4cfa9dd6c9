"""Signing in with a password: one answer for every failure, a lock-out, a rate limit.

``verify_password`` is the whole check, in the order an attacker meets it:

1. **Rate limit per client** (``RateLimiter``, in memory): a token bucket per address,
   ``PLANCUBE_SIGNIN_RATE_PER_MIN`` (10) attempts a minute, whatever names are tried — so one
   address cannot spray one password over every account. 429 ``sign_in_rate_limited``.
2. **Lock-out per account**, in the database: ``PLANCUBE_SIGNIN_MAX_FAILURES`` (5) wrong
   passwords within ``PLANCUBE_SIGNIN_WINDOW_S`` (15 min) lock the account for
   ``PLANCUBE_SIGNIN_LOCKOUT_S`` (15 min): no password is checked for it meanwhile (429
   ``account_locked``, with ``Retry-After``). A good password resets the count. The count is a
   column of ``users`` raised by one ``UPDATE``, so every server process on one PostgreSQL
   counts toward the same lock; within a process one account's attempts are checked one at a
   time (``policy.serial``), so a burst of parallel guesses is counted exactly, not all let
   through before the first failure is written.
3. **The password**, against the argon2id hash (``server.auth.hashing``). An unknown name, a
   disabled account or one without a password is checked against a dummy hash, so it takes as
   long, and fails with the same 401 ``sign_in_failed`` and the same message as a wrong
   password. The audit log (``signin.failed``) has the reason and the client; its target is
   the name as typed, never the password.

A lock-out does say that the name exists (unknown names are never locked); the per-client rate
limit is what keeps that from being a way to list accounts quickly.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import case
from sqlmodel import col, update

from server.auth import hashing, policy, users
from server.auth.audit_log import audit
from server.errors import AccountLocked, SignInFailed, SignInRateLimited
from server.storage import Store
from server.storage.metadata import User

_FAILED = "the user name or password is not right"


class RateLimiter:
    """Token buckets per client: ``rate_per_min`` attempts a minute, as a burst or spread out.

    At most ``max_clients`` buckets are kept; past that the least recently used are dropped
    (a dropped client starts again with a full bucket, which only forgives it).
    """

    def __init__(
        self,
        rate_per_min: float | None = None,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_min
        self._max = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the client may try now (one attempt taken); else the seconds to wait."""
        rate = self.rate if self.rate is not None else policy.policy().signin_rate_per_min
        at = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (rate, at))
            tokens = min(rate, tokens + (at - then) * rate / 60.0)
            wait = 0.0 if tokens >= 1 else (1 - tokens) * 60.0 / rate
            self._buckets[client] = (tokens - 1 if not wait else tokens, at)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return wait

    def refund(self, client: str) -> None:
        """Give the attempt back: a sign-in that succeeded does not count against its client
        (an office behind one address signs in every morning)."""
        rate = self.rate if self.rate is not None else policy.policy().signin_rate_per_min
        with self._lock:
            hit = self._buckets.get(client)
            if hit is not None:
                self._buckets[client] = (min(rate, hit[0] + 1), hit[1])


SIGNIN_LIMITER = RateLimiter()


def verify_password(
    store: Store, name: str, password: str, *, client: str = "", limiter: RateLimiter | None = None
) -> User:
    """The local user whose name and password these are, signed in (``signin.ok``); else
    ``SignInFailed``, ``AccountLocked`` or ``SignInRateLimited``. ``client`` is the caller's
    address: the rate limit's key and part of the audit entry (empty: no rate limit, for
    callers inside the server)."""
    if client:
        wait = (limiter or SIGNIN_LIMITER).take(client)
        if wait:
            raise SignInRateLimited(
                f"too many sign-in attempts from this address; try again in {wait:.0f} s",
                retry_after=wait,
            )
    typed = users.normalize(name)[: users.MAX_NAME]
    with policy.serial(users.subject(typed)):
        user = users.find_local_user(store, typed) if typed else None
        at = policy.now()
        if user is not None and user.locked_until and user.locked_until > policy.iso(at):
            wait = (policy.parse(user.locked_until) - at).total_seconds()
            _failed(store, user, typed, client, "locked")
            raise AccountLocked(
                f"too many failed sign-ins: this account is locked for {wait / 60:.0f} more "
                "minute(s)",
                retry_after=wait,
            )
        usable = user if user is not None and not user.disabled else None
        good = hashing.verify(usable.password_hash if usable else None, password)
        if user is None or usable is None or not good:
            reason = _reason(user)
            locked_until = _failed(store, user, typed, client, reason)
            if locked_until is not None:
                wait = (policy.parse(locked_until) - policy.now()).total_seconds()
                raise AccountLocked(
                    f"too many failed sign-ins: this account is locked for {wait / 60:.0f} "
                    "minute(s)",
                    retry_after=wait,
                )
            raise SignInFailed(_FAILED)
        assert user.password_hash is not None
        signed_in = _succeeded(store, user, password, client)
        if client:
            (limiter or SIGNIN_LIMITER).refund(client)
        return signed_in


def _reason(user: User | None) -> str:
    if user is None:
        return "unknown_user"
    if user.disabled:
        return "disabled"
    return "no_password" if user.password_hash is None else "wrong_password"


def _failed(store: Store, user: User | None, typed: str, client: str, reason: str) -> str | None:
    """Record a failure (and count it, for a wrong password); the lock's end when this one
    locked the account."""
    rules = policy.policy()
    at = policy.now()
    locked_until = None
    with policy.writing(store), store.transaction() as tx:
        audit(tx.session, None, "signin.failed", typed, after={"reason": reason, "client": client})
        if user is None or reason != "wrong_password":
            return None
        window_start = policy.iso(at - timedelta(seconds=rules.failure_window_s))
        fresh = col(User.failed_since).is_(None) | (col(User.failed_since) < window_start)
        count = tx.session.exec(
            update(User)
            .where(col(User.id) == user.id)
            .values(
                failed_signins=case((fresh, 1), else_=col(User.failed_signins) + 1),
                failed_since=case((fresh, policy.iso(at)), else_=col(User.failed_since)),
            )
            .returning(col(User.failed_signins))
        ).scalar_one()
        if count >= rules.max_failures:
            locked_until = policy.later(rules.lockout_s, at)
            tx.session.exec(
                update(User)
                .where(col(User.id) == user.id)
                .values(failed_signins=0, failed_since=None, locked_until=locked_until)
            )
            audit(
                tx.session,
                None,
                "signin.locked",
                user.name,
                after={"locked_until": locked_until, "failures": count, "client": client},
            )
    return locked_until


def _succeeded(store: Store, user: User, password: str, client: str) -> User:
    at = policy.iso(policy.now())
    stored = user.password_hash
    values: dict[str, object] = {
        "failed_signins": 0,
        "failed_since": None,
        "locked_until": None,
        "last_signin_at": at,
    }
    if stored is not None and hashing.needs_rehash(stored):
        values["password_hash"] = hashing.rehash(password)
    with policy.writing(store), store.transaction() as tx:
        tx.session.exec(update(User).where(col(User.id) == user.id).values(**values))
        audit(tx.session, user.id, "signin.ok", user.name, after={"client": client})
    for key, value in values.items():
        setattr(user, key, value)
    return user
