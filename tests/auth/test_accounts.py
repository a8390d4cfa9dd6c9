"""Local accounts on both stores: passwords, lock-out, rate limit, sessions, CSRF, tokens, audit.

Time is moved by a fake clock (``server.auth.policy.clock``), never slept; the rate limiter gets
its own fake monotonic clock.
"""

from __future__ import annotations

import hashlib
import json
import threading
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from server.auth import accounts, hashing, policy
from server.auth.accounts import (
    AccountLocked,
    SignInFailed,
    SignInRateLimited,
    User,
)
from server.auth.principal import Principal
from server.errors import PlancubeError
from server.storage import Store, open_store

PASSWORD = "correct horse battery"


class FakeClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(policy, "clock", fake)
    return fake


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def ann(store: Store) -> User:
    return accounts.add_user(store, "Ann", password=PASSWORD, email="ann@example.com")


def rows(store: Store, table: str) -> list[dict[str, Any]]:
    with store.transaction() as tx:
        result = tx.connection.execute(sa.text(f"SELECT * FROM {table}"))
        return [dict(r._mapping) for r in result]


def fails(exc: type[PlancubeError], code: str, status: int) -> Any:
    assert exc.code == code and exc.status == status
    return pytest.raises(exc)


# -- passwords --------------------------------------------------------------------------------


def test_a_password_is_kept_as_an_argon2id_hash_only(store: Store, ann: User) -> None:
    (row,) = rows(store, "users")
    assert row["password_hash"].startswith("$argon2id$")
    assert not any(PASSWORD in str(v) for v in row.values())
    assert row["issuer"] == accounts.LOCAL and row["subject"] == "ann" and row["name"] == "Ann"
    assert accounts.verify_password(store, "ann", PASSWORD).id == ann.id


def test_the_password_rule_is_ten_characters_and_says_so(store: Store) -> None:
    with fails(accounts.WeakPassword, "weak_password", 422) as exc:
        accounts.add_user(store, "bob", password="short")
    assert "at least 10 characters" in exc.value.message
    assert accounts.find_local_user(store, "bob") is None


def test_a_name_is_one_account_whatever_its_case_spaces_and_accents(store: Store) -> None:
    composed = unicodedata.normalize("NFC", "Zoé")
    decomposed = unicodedata.normalize("NFD", "zoé")
    zoe = accounts.add_user(store, f"  {composed} ")
    assert zoe.name == composed
    with fails(accounts.UserExists, "user_exists", 409):
        accounts.add_user(store, decomposed.upper())
    found = accounts.find_local_user(store, decomposed)
    assert found is not None and found.id == zoe.id
    for bad in ("", "   ", "a\tb", "x" * 101):
        with pytest.raises(accounts.InvalidUserName):
            accounts.add_user(store, bad)
    with pytest.raises(accounts.InvalidEmail):
        accounts.add_user(store, "eve", email="not an address")


def test_wrong_password_unknown_user_and_disabled_user_fail_alike(
    store: Store, ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str | None] = []
    real = hashing.verify
    monkeypatch.setattr(hashing, "verify", lambda h, p: checked.append(h) or real(h, p))
    answers = []
    for name, password in [("ann", "wrong password!"), ("nobody", PASSWORD)]:
        with fails(SignInFailed, "sign_in_failed", 401) as exc:
            accounts.verify_password(store, name, password)
        answers.append(exc.value.body())
    accounts.disable_user(store, "ann")
    with pytest.raises(SignInFailed) as exc:
        accounts.verify_password(store, "ann", PASSWORD)
    answers.append(exc.value.body())
    assert answers[0] == answers[1] == answers[2]
    assert "exist" not in answers[0]["error"]["message"]
    # an argon2 hash was checked every time: the unknown and disabled ones against a dummy
    assert len(checked) == 3 and checked[1] is None and checked[2] is None
    failed = accounts.audit_entries(store, action="signin.failed")
    assert sorted((json.loads(e.after or "")["reason"], e.target) for e in failed) == [
        ("disabled", "ann"),
        ("unknown_user", "nobody"),  # the name as typed
        ("wrong_password", "ann"),
    ]


def test_an_account_locks_after_n_failures_and_opens_after_the_lockout(
    store: Store, ann: User, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANCUBE_SIGNIN_MAX_FAILURES", "3")
    for _ in range(2):
        with pytest.raises(SignInFailed):
            accounts.verify_password(store, "ann", "wrong password!")
    with fails(AccountLocked, "account_locked", 429) as exc:
        accounts.verify_password(store, "ann", "wrong password!")  # the third locks it
    assert exc.value.retry_after == 900 and exc.value.headers() == {"Retry-After": "900"}
    clock.advance(600)
    with pytest.raises(AccountLocked) as exc:  # even the right password, meanwhile
        accounts.verify_password(store, "ann", PASSWORD)
    assert exc.value.retry_after == 300
    clock.advance(301)
    assert accounts.verify_password(store, "ann", PASSWORD).id == ann.id
    (row,) = rows(store, "users")
    assert (row["failed_signins"], row["locked_until"]) == (0, None)
    assert row["last_signin_at"] == policy.iso(clock.at)
    (locked,) = accounts.audit_entries(store, action="signin.locked")
    assert locked.target == "Ann"


def test_failures_count_within_the_window_and_a_success_resets_them(
    store: Store, ann: User, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANCUBE_SIGNIN_MAX_FAILURES", "3")
    monkeypatch.setenv("PLANCUBE_SIGNIN_WINDOW_S", "60")

    def fail(times: int) -> None:
        for _ in range(times):
            with pytest.raises(SignInFailed):
                accounts.verify_password(store, "ann", "wrong password!")

    fail(2)
    clock.advance(61)  # the window passed: counting starts again
    fail(2)
    accounts.verify_password(store, "ann", PASSWORD)
    fail(2)
    assert rows(store, "users")[0]["failed_signins"] == 2


def test_parallel_guesses_are_counted_one_by_one(
    store: Store, ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANCUBE_SIGNIN_MAX_FAILURES", "3")
    checked: list[int] = []
    real = hashing.verify
    monkeypatch.setattr(hashing, "verify", lambda h, p: checked.append(1) or real(h, p))
    outcomes: list[str] = []

    def guess(k: int) -> None:
        try:
            accounts.verify_password(store, "ann", f"guess number {k}")
        except PlancubeError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=guess, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["account_locked"] * 6 + ["sign_in_failed"] * 2
    assert len(checked) == 3  # no password was tried once the account was locked


def test_the_lockout_is_shared_by_server_processes(
    pg_schema_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only: one process per DuckDB file."""
    monkeypatch.setenv("PLANCUBE_SIGNIN_MAX_FAILURES", "2")
    store = open_store(pg_schema_url)
    other = open_store(pg_schema_url)  # another server process's store
    try:
        accounts.add_user(store, "ann", password=PASSWORD)
        with pytest.raises(SignInFailed):
            accounts.verify_password(store, "ann", "wrong password!")
        with pytest.raises(AccountLocked):
            accounts.verify_password(other, "ann", "wrong password!")
        with pytest.raises(AccountLocked):
            accounts.verify_password(store, "ann", PASSWORD)
    finally:
        other.close()
        store.close()


def test_sign_ins_are_rate_limited_per_client(store: Store, clock: FakeClock) -> None:
    limiter = accounts.RateLimiter(3, clock=clock.monotonic)
    for _ in range(3):
        with pytest.raises(SignInFailed):
            accounts.verify_password(store, "x", "y" * 10, client="10.0.0.1", limiter=limiter)
    with fails(SignInRateLimited, "sign_in_rate_limited", 429) as exc:
        accounts.verify_password(store, "x", "y" * 10, client="10.0.0.1", limiter=limiter)
    assert exc.value.retry_after == 20 and exc.value.headers()["Retry-After"] == "20"
    with pytest.raises(SignInFailed):  # another address is not held back
        accounts.verify_password(store, "x", "y" * 10, client="10.0.0.2", limiter=limiter)
    clock.advance(20)
    with pytest.raises(SignInFailed):
        accounts.verify_password(store, "x", "y" * 10, client="10.0.0.1", limiter=limiter)


def test_sign_ins_that_succeed_do_not_count_against_the_address(
    store: Store, clock: FakeClock
) -> None:
    """An office behind one address: everyone signing in in the morning is not held back."""
    limiter = accounts.RateLimiter(2, clock=clock.monotonic)
    accounts.add_user(store, "office", password="a long password 1")
    for _ in range(5):
        user = accounts.verify_password(
            store, "office", "a long password 1", client="10.0.0.9", limiter=limiter
        )
        assert user.name == "office"
    for _ in range(2):  # failures still do
        with pytest.raises(SignInFailed):
            accounts.verify_password(store, "x", "y" * 10, client="10.0.0.9", limiter=limiter)
    with fails(SignInRateLimited, "sign_in_rate_limited", 429):
        accounts.verify_password(
            store, "office", "a long password 1", client="10.0.0.9", limiter=limiter
        )


def test_the_rate_limiter_keeps_a_bounded_number_of_clients() -> None:
    t = [0.0]
    limiter = accounts.RateLimiter(1, max_clients=2, clock=lambda: t[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 60
    limiter.take("b")
    limiter.take("c")  # "a" is dropped, and starts again full
    assert limiter.take("a") == 0


def test_a_new_password_revokes_sessions_and_lifts_a_lockout(
    store: Store, ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANCUBE_SIGNIN_MAX_FAILURES", "1")
    raw, _ = accounts.create_session(store, ann.id)
    with pytest.raises(AccountLocked):
        accounts.verify_password(store, "ann", "wrong password!")
    accounts.set_password(store, "ANN", "a new long password")
    assert accounts.resolve_session(store, raw) is None
    assert accounts.verify_password(store, "ann", "a new long password").id == ann.id
    with pytest.raises(AccountLocked):  # the old one is wrong now (and one failure locks)
        accounts.verify_password(store, "ann", PASSWORD)
    with pytest.raises(accounts.UserNotFound):
        accounts.set_password(store, "nobody", "a new long password")


def test_an_outdated_hash_is_redone_at_sign_in(
    store: Store, ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing, "needs_rehash", lambda stored: True)
    before = rows(store, "users")[0]["password_hash"]
    accounts.verify_password(store, "ann", PASSWORD)
    after = rows(store, "users")[0]["password_hash"]
    assert after != before and after.startswith("$argon2id$")
    monkeypatch.undo()
    assert accounts.verify_password(store, "ann", PASSWORD).id == ann.id


# -- sessions ---------------------------------------------------------------------------------


def test_a_session_is_stored_as_a_hash_and_resolves_until_its_expiry(
    store: Store, ann: User, clock: FakeClock
) -> None:
    raw, session = accounts.create_session(store, ann.id, ttl_s=600)
    assert len(raw) >= 43 and session.id == hashlib.sha256(raw.encode()).hexdigest()
    assert not any(raw in str(v) for r in rows(store, "sessions") for v in r.values())
    user = accounts.resolve_session(store, raw)
    assert user is not None and user.id == ann.id
    assert accounts.resolve_session(store, raw + "x") is None
    assert accounts.resolve_session(store, "") is None
    clock.advance(601)
    assert accounts.resolve_session(store, raw) is None


def test_a_session_ends_when_idle_and_is_touched_once_a_minute(
    store: Store, ann: User, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANCUBE_SESSION_IDLE_S", "300")
    raw, session = accounts.create_session(store, ann.id)
    assert session.expires_at == policy.iso(clock.at + timedelta(hours=12))

    def seen() -> str:
        return str(rows(store, "sessions")[0]["last_seen_at"])

    first = seen()
    clock.advance(30)
    assert accounts.resolve_session(store, raw) is not None and seen() == first  # not yet
    clock.advance(31)
    assert accounts.resolve_session(store, raw) is not None and seen() == policy.iso(clock.at)
    clock.advance(299)  # idle, but not for 300 s
    assert accounts.resolve_session(store, raw) is not None
    clock.advance(301)
    assert accounts.resolve_session(store, raw) is None


def test_sign_out_revoke_everywhere_and_disabling_end_sessions(store: Store, ann: User) -> None:
    one, _ = accounts.create_session(store, ann.id)
    two, _ = accounts.create_session(store, ann.id)
    three, _ = accounts.create_session(store, ann.id)
    accounts.revoke_session(store, one)
    accounts.revoke_session(store, one)  # again, and an unknown one: nothing to do
    accounts.revoke_session(store, "no such cookie")
    assert accounts.resolve_session(store, one) is None
    assert accounts.resolve_session(store, two) is not None
    assert accounts.revoke_sessions(store, ann.id) == 2
    assert accounts.resolve_session(store, two) is None
    four, _ = accounts.create_session(store, ann.id)  # the dead ones are cleared
    assert len(rows(store, "sessions")) == 1
    accounts.disable_user(store, "ann")
    assert accounts.resolve_session(store, four) is None
    with fails(accounts.UserDisabled, "user_disabled", 403):
        accounts.create_session(store, ann.id)
    accounts.disable_user(store, "ann", disabled=False)
    assert accounts.resolve_session(store, four) is None  # revoked, not only hidden
    assert accounts.resolve_session(store, accounts.create_session(store, ann.id)[0])
    assert three and accounts.resolve_session(store, three) is None
    with fails(accounts.UserNotFound, "user_not_found", 404):
        accounts.create_session(store, "no-such-id")


def test_a_csrf_token_belongs_to_its_session() -> None:
    token = accounts.csrf_token("cookie-one")
    assert accounts.check_csrf("cookie-one", token)
    assert token == accounts.csrf_token("cookie-one") and "cookie-one" not in token
    assert not accounts.check_csrf("cookie-two", token)
    for bad in ("", token[:-1], token + "0", "é" * 64):
        assert not accounts.check_csrf("cookie-one", bad)
    assert not accounts.check_csrf("", accounts.csrf_token(""))


# -- personal access tokens -------------------------------------------------------------------


def test_a_token_is_shown_once_and_stored_as_a_hash(store: Store, ann: User) -> None:
    raw, token = accounts.create_token(store, ann.id, "nightly export")
    assert raw.startswith("pcp_") and len(raw) >= 47
    (row,) = rows(store, "access_tokens")
    assert row["token_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert not any(raw in str(v) or raw[4:] in str(v) for v in row.values())
    listed = accounts.list_tokens(store, ann.id)
    assert [t.id for t in listed] == [token.id] and listed[0].name == "nightly export"
    user = accounts.resolve_token(store, raw)
    assert user is not None and user.id == ann.id
    assert accounts.resolve_token(store, raw[:-1]) is None
    assert accounts.resolve_token(store, "eyJhbGciOi.not.ours") is None


def test_a_token_expires_and_is_touched_once_a_minute(
    store: Store, ann: User, clock: FakeClock
) -> None:
    raw, token = accounts.create_token(store, ann.id, "ci", expires_days=2)
    assert token.expires_at == policy.iso(clock.at + timedelta(days=2))
    assert accounts.resolve_token(store, raw) is not None
    used = rows(store, "access_tokens")[0]["last_used_at"]
    assert used == policy.iso(clock.at)
    clock.advance(59)
    accounts.resolve_token(store, raw)
    assert rows(store, "access_tokens")[0]["last_used_at"] == used
    clock.advance(2)
    accounts.resolve_token(store, raw)
    assert rows(store, "access_tokens")[0]["last_used_at"] == policy.iso(clock.at)
    clock.advance(2 * 86400)
    assert accounts.resolve_token(store, raw) is None


def test_token_expiry_and_names_are_checked(store: Store, ann: User) -> None:
    for days in (0, 367, -1):
        with fails(accounts.InvalidTokenExpiry, "invalid_token_expiry", 422) as exc:
            accounts.create_token(store, ann.id, "x", expires_days=days)
        assert "366 days" in exc.value.message
    accounts.create_token(store, ann.id, "ci", expires_days=366)
    with fails(accounts.TokenNameTaken, "token_name_taken", 409):
        accounts.create_token(store, ann.id, " ci ")
    with pytest.raises(PlancubeError):
        accounts.create_token(store, ann.id, "  ")
    bob = accounts.add_user(store, "bob")
    accounts.create_token(store, bob.id, "ci")  # names are per user
    with fails(accounts.UserNotFound, "user_not_found", 404):
        accounts.create_token(store, "no-such-id", "ci")


def test_a_revoked_token_or_a_disabled_users_token_signs_nobody_in(store: Store, ann: User) -> None:
    raw, token = accounts.create_token(store, ann.id, "ci")
    bob = accounts.add_user(store, "bob")
    with fails(accounts.TokenNotFound, "token_not_found", 404):
        accounts.revoke_token(store, bob.id, token.id)  # not bob's
    with pytest.raises(accounts.TokenNotFound):
        accounts.revoke_token(store, ann.id, "no-such-token")
    accounts.revoke_token(store, ann.id, token.id)
    accounts.revoke_token(store, ann.id, token.id)  # again: nothing to do
    assert accounts.resolve_token(store, raw) is None
    again, _ = accounts.create_token(store, ann.id, "ci")  # the name is free again
    assert accounts.resolve_token(store, again) is not None
    accounts.disable_user(store, "ann")
    assert accounts.resolve_token(store, again) is None
    accounts.disable_user(store, "ann", disabled=False)
    assert accounts.resolve_token(store, again) is None  # disabling revoked it
    assert all(t.revoked_at for t in accounts.list_tokens(store, ann.id))
    accounts.disable_user(store, "ann")
    with pytest.raises(accounts.UserDisabled):
        accounts.create_token(store, ann.id, "later")


# -- external users ---------------------------------------------------------------------------


def entra(name: str, username: str, tenant: str = "tid-1") -> Principal:
    return Principal(
        key=f"entra:{tenant}:oid-1",
        issuer=f"https://login.microsoftonline.com/{tenant}/v2.0",
        subject="oid-1",
        kind="delegated",
        tenant=tenant,
        name=name,
        username=username,
        email=username,
    )


def test_an_external_user_is_kept_by_its_key_and_follows_its_display_fields(
    store: Store,
) -> None:
    first = accounts.upsert_external_user(store, entra("Ann A", "ann@contoso.com"))
    assert (first.issuer, first.subject) == ("entra:tid-1", "oid-1")
    assert (first.name, first.display_name) == ("ann@contoso.com", "Ann A")
    renamed = accounts.upsert_external_user(store, entra("Ann B", "ann.b@contoso.com"))
    assert renamed.id == first.id and renamed.name == "ann.b@contoso.com"
    assert renamed.display_name == "Ann B"
    other_tenant = accounts.upsert_external_user(store, entra("Ann A", "ann@contoso.com", "tid-2"))
    assert other_tenant.id != first.id  # the same oid in another tenant is someone else
    oidc = Principal(
        key="oidc:https://idp.example#sub-9",
        issuer="https://idp.example",
        subject="sub-9",
        kind="delegated",
        name="Ola",
    )
    user = accounts.upsert_external_user(store, oidc)
    assert (user.issuer, user.subject, user.name) == ("https://idp.example", "sub-9", "Ola")
    assert len(accounts.audit_entries(store, action="user.add")) == 3
    assert accounts.find_local_user(store, "ola") is None  # not a local account
    accounts.set_disabled(store, user.id)
    assert accounts.upsert_external_user(store, oidc).disabled  # stays disabled
    listed = accounts.list_users(store)
    assert len(listed) == 3 and accounts.get_user(store, user.id) is not None


# -- audit ------------------------------------------------------------------------------------


def test_every_action_is_audited_and_no_secret_is_in_the_log(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANCUBE_SIGNIN_MAX_FAILURES", "2")
    secrets: list[str] = [PASSWORD, "wrong password!", "a new long password"]
    ann = accounts.add_user(store, "ann", password=PASSWORD)
    admin = accounts.add_user(store, "root", server_admin=True)
    accounts.verify_password(store, "ann", PASSWORD, client="10.1.1.1")
    for _ in range(2):
        with pytest.raises(PlancubeError):
            accounts.verify_password(store, "ann", "wrong password!")
    accounts.set_password(store, "ann", "a new long password", actor=admin.id)
    raw, _ = accounts.create_session(store, ann.id)
    accounts.revoke_session(store, raw)
    token, row = accounts.create_token(store, ann.id, "ci", actor=ann.id)
    accounts.revoke_token(store, ann.id, row.id, actor=admin.id)
    accounts.disable_user(store, "ann", actor=admin.id)
    accounts.disable_user(store, "ann", disabled=False, actor=admin.id)
    secrets += [raw, token, token[4:], row.token_hash, hashlib.sha256(raw.encode()).hexdigest()]
    secrets += [str(r["password_hash"]) for r in rows(store, "users") if r["password_hash"]]

    entries = accounts.audit_entries(store)
    assert {e.action for e in entries} == accounts.ACTIONS
    for r in rows(store, "audit_log"):
        text = " ".join(str(v) for v in r.values())
        assert not any(s in text for s in secrets), r
    by_action = {e.action: e for e in entries}
    assert by_action["user.password"].actor == admin.id
    assert by_action["token.create"].actor == ann.id
    assert by_action["signin.ok"].actor == ann.id
    assert "10.1.1.1" in str(by_action["signin.ok"].after)
    assert by_action["user.disable"].target == "ann"


def test_audit_entries_page_back_and_filter(store: Store, clock: FakeClock) -> None:
    for k in range(5):
        accounts.audit(store, f"u{k % 2}", "user.add", f"t{k}", after={"k": k})
        clock.advance(1)
    newest = accounts.audit_entries(store, limit=2)
    assert [e.target for e in newest] == ["t4", "t3"]
    older = accounts.audit_entries(store, limit=2, before=newest[-1].occurred_at)
    assert [e.target for e in older] == ["t2", "t1"]
    assert [e.target for e in accounts.audit_entries(store, actor="u1")] == ["t3", "t1"]
    assert accounts.audit_entries(store, action="token.create") == []
    with store.transaction() as tx:  # in the caller's unit of work, rolled back with it
        accounts.audit(tx.session, None, "user.add", "in-tx")
    assert accounts.audit_entries(store, limit=1)[0].target == "in-tx"
    with pytest.raises(RuntimeError), store.transaction() as tx:
        accounts.audit(tx.session, None, "user.add", "rolled back")
        raise RuntimeError
    assert accounts.audit_entries(store, limit=1)[0].target == "in-tx"


def test_the_policy_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.auth.settings import AuthSettingsError

    assert accounts.AccountPolicy.from_env({}) == accounts.AccountPolicy()
    for name, value in [
        ("PLANCUBE_SIGNIN_MAX_FAILURES", "0"),
        ("PLANCUBE_SIGNIN_LOCKOUT_S", "soon"),
        ("PLANCUBE_SESSION_TTL_S", "-5"),
    ]:
        with pytest.raises(AuthSettingsError, match=name):
            accounts.AccountPolicy.from_env({name: value})
