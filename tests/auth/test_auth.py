"""Accounts, lockout, tokens, and the audit chain: appends link, tampering and truncation are found."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from jamsos.auth import domain as authz
from jamsos.auth import service as auth
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.kernel.errors import InvalidInput, NotFound
from jamsos.kernel.pseudonym import pseudonym

pytestmark = pytest.mark.integration
AUDIT_KEY = b"test audit key"
T0 = dt.datetime(2024, 12, 1, 8, 0)


def test_users_need_the_scope_of_their_role(db_url: str) -> None:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        with pytest.raises(InvalidInput) as caught:
            auth.create_user(s, username="x", password="short", role="branch", created_at=T0)
        assert {p.field for p in caught.value.problems} == {"branch", "password"}
        with pytest.raises(NotFound):
            auth.create_user(
                s, username="x", password="a-long-password", role="branch", branch="KC-NOWHERE", created_at=T0
            )
        auth.create_user(s, username="ani", password="a-long-password", role="kanwil", kanwil="sulama", created_at=T0)
        p = auth.principal(s, "ani")
        assert p.scope.branches is not None and "KC-TERNATE" in p.scope.branches and "KC-1271" not in p.scope.branches
        with pytest.raises(InvalidInput):
            auth.create_user(s, username="ani", password="a-long-password", role="admin", created_at=T0)
    engine.dispose()


def test_wrong_passwords_lock_the_account_then_it_opens_again(db_url: str) -> None:
    engine = make_engine(db_url)
    policy = auth.LoginPolicy(max_failures=3, lockout=dt.timedelta(minutes=15))
    with unit_of_work(engine) as s:
        auth.create_user(s, username="budi", password="the-right-password", role="admin", created_at=T0)
    for i in range(2):
        with unit_of_work(engine) as s, pytest.raises(authz.LoginFailed):
            auth.authenticate(s, username="budi", password="wrong", at=T0 + dt.timedelta(seconds=i), policy=policy)
    with unit_of_work(engine) as s, pytest.raises(authz.LoginFailed) as third:
        auth.authenticate(s, username="budi", password="wrong", at=T0 + dt.timedelta(seconds=3), policy=policy)
    with unit_of_work(engine) as s, pytest.raises(authz.LoginFailed) as locked:  # even the right password
        auth.authenticate(
            s, username="budi", password="the-right-password", at=T0 + dt.timedelta(minutes=5), policy=policy
        )
    assert str(locked.value) == str(third.value)  # a locked account answers as any failure (issue 14)
    with unit_of_work(engine) as s:
        who = auth.authenticate(
            s, username="budi", password="the-right-password", at=T0 + dt.timedelta(minutes=16), policy=policy
        )
        assert who.role == "admin"
    with unit_of_work(engine) as s, pytest.raises(authz.LoginFailed) as unknown:
        auth.authenticate(s, username="nobody", password="x", at=T0, policy=policy)
    assert str(unknown.value) == str(third.value)  # the same answer as a wrong password and a locked account
    assert str(unknown.value).startswith("wrong user name or password")
    engine.dispose()


def test_the_audit_chain_finds_tampering_and_truncation(db_url: str) -> None:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        for i in range(5):
            auth.record(
                s,
                secret=AUDIT_KEY,
                actor="cli",
                action="change_employer",
                entity="worker",
                at=T0 + dt.timedelta(minutes=i),
                source="cli",
                key=f"k{i}",
            )
        first = auth.verify(s, secret=AUDIT_KEY).to_json()
        assert {k: first[k] for k in ("entries", "ok", "first_bad_id", "reason", "pending")} == {
            "entries": 0, "ok": True, "first_bad_id": None, "reason": "", "pending": 5
        }  # fmt: skip
        assert auth.seal(s, secret=AUDIT_KEY) == 5 and auth.seal(s, secret=AUDIT_KEY) == 0
        sealed = auth.verify(s, secret=AUDIT_KEY).to_json()
        assert {k: sealed[k] for k in ("entries", "ok", "first_bad_id", "reason", "pending")} == {
            "entries": 5, "ok": True, "first_bad_id": None, "reason": "", "pending": 0
        }  # fmt: skip
    with pytest.raises(DatabaseError), unit_of_work(engine) as s:  # a sealed entry cannot be sealed again
        s.execute(text("UPDATE audit_log SET seq = 99, hash = 'x', prev_hash = 'y' WHERE id = 2"))
    with pytest.raises(DatabaseError), unit_of_work(engine) as s:  # append-only in the database
        s.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 3"))
    with pytest.raises(DatabaseError), unit_of_work(engine) as s:
        s.execute(text("DELETE FROM audit_log WHERE id = 5"))
    # Someone with the database owner's rights drops the guard and edits an entry: the chain shows it.
    guards = ["DROP TRIGGER audit_log_append_only ON audit_log"] if db_url.startswith("postgresql") else [
        "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"
    ]  # fmt: skip
    with unit_of_work(engine) as s:
        for g in guards:
            s.execute(text(g))
        s.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 3"))
    with unit_of_work(engine) as s:
        check = auth.verify(s, secret=AUDIT_KEY)
        assert (check.ok, check.first_bad_id) == (False, 3) and "content" in check.reason
        s.execute(text("UPDATE audit_log SET actor = 'cli' WHERE id = 3"))
        assert auth.verify(s, secret=AUDIT_KEY).ok
        s.execute(text("DELETE FROM audit_log WHERE id = 5"))
        check = auth.verify(s, secret=AUDIT_KEY)
        assert not check.ok and "removed" in check.reason
    engine.dispose()


def test_tokens_are_kept_only_as_hashes(db_url: str) -> None:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        auth.create_user(s, username="api", password="a-long-password", role="head_office", created_at=T0)
        token = auth.create_token(s, username="api", name="etl", created_at=T0)
        assert auth.principal_for_token(s, token, at=T0).username == "api"
        stored = s.execute(text("SELECT token_hash FROM api_token")).scalar_one()
        assert stored == authz.token_hash(token) and token not in stored
    engine.dispose()


def test_masks() -> None:
    assert authz.mask_nik("8271011708850001") == "8271********0001"
    assert authz.mask_name("Siti Aminah") == "S*** A*****"
    assert pseudonym(b"k", "8271011708850001") != pseudonym(b"other", "8271011708850001")


# SQLite runs one writer at a time, so an entry cannot commit after a later one there.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_entries_committed_late_are_sealed_later_and_nothing_is_left_out(db_url: str) -> None:
    """Two requests insert entries at once; the one with the lower id commits after a seal ran. It is sealed
    in the next round, at the next position, and the chain verifies; an unsealed entry can only be sealed."""
    engine = make_engine(db_url)
    early = Session(engine)
    auth.record(early, secret=AUDIT_KEY, actor="a", action="register_worker", entity="x", at=T0, source="t")
    early.flush()  # its id is taken, its transaction still open
    with unit_of_work(engine) as s:
        auth.record(s, secret=AUDIT_KEY, actor="b", action="enrol", entity="x", at=T0, source="t")
    with unit_of_work(engine) as s:
        assert auth.seal(s, secret=AUDIT_KEY) == 1  # only the committed one is visible
    early.commit()
    early.close()
    with unit_of_work(engine) as s:
        with pytest.raises(DatabaseError), s.begin_nested():  # an unsealed entry cannot be edited either
            s.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE action = 'register_worker'"))
        assert auth.verify(s, secret=AUDIT_KEY).pending == 1
        assert auth.seal(s, secret=AUDIT_KEY) == 1
        check = auth.verify(s, secret=AUDIT_KEY)
        assert (check.ok, check.entries, check.pending) == (True, 2, 0)
        order = s.execute(text("SELECT action FROM audit_log ORDER BY seq")).scalars().all()
        assert order == ["enrol", "register_worker"]  # sealed in the order they became visible
    engine.dispose()


def test_tokens_expire_and_rotate(db_url: str) -> None:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        auth.create_user(s, username="etl", password="a-long-password", role="head_office", created_at=T0)
        old = auth.create_token(s, username="etl", name="nightly", created_at=T0, days=30)
        assert auth.principal_for_token(s, old, at=T0 + dt.timedelta(days=29)).username == "etl"
        with pytest.raises(authz.NotAuthenticated):  # tokens expire (they never did)
            auth.principal_for_token(s, old, at=T0 + dt.timedelta(days=30, seconds=1))
        new = auth.rotate_token(s, token=old, at=T0 + dt.timedelta(days=10), days=30)
        with pytest.raises(authz.NotAuthenticated):  # the rotated token stops at once
            auth.principal_for_token(s, old, at=T0 + dt.timedelta(days=10))
        assert auth.principal_for_token(s, new, at=T0 + dt.timedelta(days=39)).username == "etl"
        with pytest.raises(authz.NotAuthenticated):  # an old token cannot be rotated again
            auth.rotate_token(s, token=old, at=T0 + dt.timedelta(days=11))
    engine.dispose()


def test_the_chain_is_keyed_forged_rows_are_found_and_a_backup_head_catches_truncation(db_url: str) -> None:
    """Whoever can write to the database cannot rewrite the chain, plant an entry or cut its tail: the hashes are
    keyed with a secret kept outside the database, each entry carries its MAC, and the head printed into a backup
    must stay on the chain."""
    engine = make_engine(db_url)
    guards = ["DROP TRIGGER audit_log_append_only ON audit_log"] if db_url.startswith("postgresql") else [
        "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"
    ]  # fmt: skip
    with unit_of_work(engine) as s:
        for i in range(4):
            auth.record(s, secret=AUDIT_KEY, actor="a", action="read_worker", entity="w", at=T0, source="t", key=f"{i}")
        auth.seal(s, secret=AUDIT_KEY)
        backup_head = auth.head(s)
        assert auth.verify(s, secret=AUDIT_KEY, expect_head=backup_head).ok
        assert not auth.verify(s, secret=b"another key").ok  # the chain is keyed
    with unit_of_work(engine) as s:  # a row planted by hand, with a made-up MAC: never sealed, named
        s.execute(
            text(
                "INSERT INTO audit_log (at, actor, role, action, entity, source, detail, mac) VALUES "
                "(:at, 'mallory', 'admin', 'login', 'user', 't', '{}', :mac)"
            ),
            {"at": T0, "mac": "0" * 64},
        )
    with unit_of_work(engine) as s:
        assert auth.seal(s, secret=AUDIT_KEY) == 0
        check = auth.verify(s, secret=AUDIT_KEY)
        assert not check.ok and check.forged == 1 and "not by jamsos" in check.reason
        for g in guards:
            s.execute(text(g))
        s.execute(text("DELETE FROM audit_log WHERE actor = 'mallory'"))
    with unit_of_work(engine) as s:  # the tail cut and the head moved back with it, unkeyed: found
        s.execute(text("DELETE FROM audit_log WHERE seq = 4"))
        third = s.execute(text("SELECT hash FROM audit_log WHERE seq = 3")).scalar_one()
        s.execute(text("UPDATE audit_head SET last_seq = 3, last_hash = :h"), {"h": third})
        check = auth.verify(s, secret=AUDIT_KEY)
        assert not check.ok and "head" in check.reason
        # ... and even with a head MAC that someone saved: the backup's head is no longer on the chain
        s.execute(text("UPDATE audit_head SET head_mac = :m"), {"m": authz.head_mac(AUDIT_KEY, 3, third)})
        assert auth.verify(s, secret=AUDIT_KEY).ok
        truncated = auth.verify(s, secret=AUDIT_KEY, expect_head=backup_head)
        assert not truncated.ok and "not on the chain" in truncated.reason
    engine.dispose()


def test_the_checkpoint_verifies_only_what_is_new(db_url: str) -> None:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        for i in range(3):
            auth.record(s, secret=AUDIT_KEY, actor="a", action="read_worker", entity="w", at=T0, source="t", key=f"{i}")
        auth.seal(s, secret=AUDIT_KEY)
        first = auth.checkpoint(s, secret=AUDIT_KEY, at=T0)
        assert first.ok and first.entries == 3
        auth.record(s, secret=AUDIT_KEY, actor="a", action="read_worker", entity="w", at=T0, source="t", key="3")
        auth.seal(s, secret=AUDIT_KEY)
        second = auth.checkpoint(s, secret=AUDIT_KEY, at=T0 + dt.timedelta(seconds=1))
        assert second.ok and second.entries == 4 and auth.last_check(s)["seq"] == 4  # type: ignore[index]
        s.execute(text("UPDATE audit_checkpoint SET seq = 1"))  # moved by hand: not trusted, all verified again
        assert auth.checkpoint(s, secret=AUDIT_KEY, at=T0).entries == 4
    engine.dispose()
