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
                actor="cli",
                action="change_employer",
                entity="worker",
                at=T0 + dt.timedelta(minutes=i),
                source="cli",
                key=f"k{i}",
            )
        assert auth.verify(s).to_json() == {"entries": 0, "ok": True, "first_bad_id": None, "reason": "", "pending": 5}
        assert auth.seal(s) == 5 and auth.seal(s) == 0
        assert auth.verify(s).to_json() == {"entries": 5, "ok": True, "first_bad_id": None, "reason": "", "pending": 0}
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
        check = auth.verify(s)
        assert (check.ok, check.first_bad_id) == (False, 3) and "content" in check.reason
        s.execute(text("UPDATE audit_log SET actor = 'cli' WHERE id = 3"))
        assert auth.verify(s).ok
        s.execute(text("DELETE FROM audit_log WHERE id = 5"))
        check = auth.verify(s)
        assert not check.ok and "removed" in check.reason
    engine.dispose()


def test_tokens_are_kept_only_as_hashes(db_url: str) -> None:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        auth.create_user(s, username="api", password="a-long-password", role="head_office", created_at=T0)
        token = auth.create_token(s, username="api", name="etl", created_at=T0)
        assert auth.principal_for_token(s, token).username == "api"
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
    auth.record(early, actor="a", action="register_worker", entity="x", at=T0, source="t")
    early.flush()  # its id is taken, its transaction still open
    with unit_of_work(engine) as s:
        auth.record(s, actor="b", action="enrol", entity="x", at=T0, source="t")
    with unit_of_work(engine) as s:
        assert auth.seal(s) == 1  # only the committed one is visible
    early.commit()
    early.close()
    with unit_of_work(engine) as s:
        with pytest.raises(DatabaseError), s.begin_nested():  # an unsealed entry cannot be edited either
            s.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE action = 'register_worker'"))
        assert auth.verify(s).pending == 1
        assert auth.seal(s) == 1
        check = auth.verify(s)
        assert (check.ok, check.entries, check.pending) == (True, 2, 0)
        order = s.execute(text("SELECT action FROM audit_log ORDER BY seq")).scalars().all()
        assert order == ["enrol", "register_worker"]  # sealed in the order they became visible
    engine.dispose()
