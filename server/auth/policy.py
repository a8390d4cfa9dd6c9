"""Local accounts' limits and clock: lock-out, session lifetimes, the sign-in rate.

Every number comes from a ``PLANCUBE_*`` environment variable with a safe default, read when it
is needed (a few dictionary look-ups), so a server restarted with new settings uses them and a
test can set them with ``monkeypatch.setenv``. ``AccountPolicy.from_env()`` at start-up turns a
wrong value into one ``AuthSettingsError`` naming it, as the bearer-token settings do.

Times in the metadata tables are ISO-8601 UTC text (``server.storage.metadata``); ``clock`` is
where every account function asks for the time, so a test moves it forward instead of sleeping
(``monkeypatch.setattr(policy, "clock", ...)``).

Also here, since each account module needs them: ``writing(store)``, which serializes this
package's short write transactions on an embedded DuckDB store (DuckDB refuses two transactions
updating one row at once — a session touched by two requests — where PostgreSQL waits for the
row lock), and ``serial(key)``, which runs one account's sign-in attempts one at a time in a
process so that its failures are counted exactly.
"""

from __future__ import annotations

import os
import threading
import weakref
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from server.auth.settings import setting_number


def _utcnow() -> datetime:
    return datetime.now(UTC)


clock = _utcnow  # replaced by tests


def now() -> datetime:
    return clock()


def iso(at: datetime) -> str:
    """The metadata tables' time text (as ``server.storage.sql.now`` writes it)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def later(seconds: float, at: datetime | None = None) -> str:
    return iso((at or now()) + timedelta(seconds=seconds))


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    max_failures: int = 5  # failed passwords within the window that lock the account
    failure_window_s: float = 900.0
    lockout_s: float = 900.0
    signin_rate_per_min: float = 10.0  # attempts per client address, in memory per process
    session_ttl_s: float = 12 * 3600.0
    session_idle_s: float = 2 * 3600.0
    touch_s: float = 60.0  # last_seen_at / last_used_at are written at most this often

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AccountPolicy:
        env = os.environ if env is None else env
        return cls(
            max_failures=int(_number(env, "PLANCUBE_SIGNIN_MAX_FAILURES", 5, least=1, most=1000)),
            failure_window_s=_number(env, "PLANCUBE_SIGNIN_WINDOW_S", 900.0),
            lockout_s=_number(env, "PLANCUBE_SIGNIN_LOCKOUT_S", 900.0),
            signin_rate_per_min=_number(
                env, "PLANCUBE_SIGNIN_RATE_PER_MIN", 10.0, least=1, most=10_000
            ),
            session_ttl_s=_number(env, "PLANCUBE_SESSION_TTL_S", 12 * 3600.0, least=60),
            session_idle_s=_number(env, "PLANCUBE_SESSION_IDLE_S", 2 * 3600.0, least=60),
        )


def policy() -> AccountPolicy:
    return AccountPolicy.from_env()


def _number(
    env: Mapping[str, str], name: str, default: float, least: float = 0, most: float = 30 * 86400
) -> float:
    return setting_number(env, name, default, least=least, most=most)


_write_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_write_locks_guard = threading.Lock()


@contextmanager
def writing(store: Any) -> Iterator[None]:
    """Hold while a write transaction of this package runs: one at a time on an embedded store
    (``store.shared`` false), nothing on PostgreSQL."""
    if getattr(store, "shared", True):
        yield
        return
    with _write_locks_guard:
        lock = _write_locks.setdefault(store, threading.Lock())
    with lock:
        yield


_STRIPES = [threading.Lock() for _ in range(64)]  # bounded, however many names are tried


@contextmanager
def serial(key: str) -> Iterator[None]:
    """One at a time per ``key`` in this process (keys may share a stripe: only slower)."""
    with _STRIPES[zlib.crc32(key.encode()) % len(_STRIPES)]:
        yield
