"""Backup and restore of the store, on SQLite (online backup API) and PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.conftest import Clock
from tests.scenario import firm, nik

from jamsos.auth import service as auth
from jamsos.infra import backup
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.kernel.period import Period
from jamsos.ledger import service as led
from jamsos.ledger import tables as lt
from jamsos.registry import service as reg
from jamsos.registry import tables as rt
from jamsos.registry.domain import EVERYTHING
from jamsos.rules.tree import load_parameters

pytestmark = pytest.mark.integration
AUDIT_KEY = b"test audit key"


def _workers(url: str) -> int:
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        n = int(s.scalar(select(func.count()).select_from(rt.worker)) or 0)
    engine.dispose()
    return n


def _approved_run(url: str, clock: Clock, period: Period) -> int:
    """A billing run made and approved: on PostgreSQL its lines are a partition of ``bill_line``."""
    engine = make_engine(url)
    tree = load_parameters()
    with unit_of_work(engine) as s:
        run = led.run_billing(s, scope=EVERYTHING, period=period, maker="ani", tree=tree, started_at=clock())
        led.approve_run(s, scope=EVERYTHING, run_id=run.run_id, checker="budi", tree=tree, decided_at=clock())
        lines = int(s.scalar(select(func.count()).select_from(lt.bill_line)) or 0)
    engine.dispose()
    return lines


def test_a_restore_brings_back_the_store_as_it_was_backed_up(db_url: str, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        firm(s, clock(), wages=[5_000_000, 4_000_000])
        auth.record(
            s, secret=AUDIT_KEY, actor="test", action="load_reference", entity="store", at=clock(), source="test"
        )
        auth.seal(s, secret=AUDIT_KEY)
    engine.dispose()
    lines = _approved_run(db_url, clock, Period(2024, 11))  # restore used to fail over a partitioned table
    assert lines > 0
    result = backup.backup(db_url, tmp_path / "store.backup")
    assert result.bytes > 0 and Path(result.path).exists()

    engine = make_engine(db_url)
    with unit_of_work(engine) as s:  # after the backup: more workers, another audit entry
        reg.register_worker(
            s, scope=EVERYTHING, nik=nik(50), name="Later", valid_from=dt.date(2024, 6, 1), recorded_at=clock()
        )
        auth.record(s, secret=AUDIT_KEY, actor="test", action="read_worker", entity="store", at=clock(), source="test")
        auth.seal(s, secret=AUDIT_KEY)
    engine.dispose()
    assert _workers(db_url) == 3
    assert _approved_run(db_url, clock, Period(2024, 12)) > lines  # a second run after the backup

    backup.restore(db_url, tmp_path / "store.backup")
    assert _workers(db_url) == 2
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        check = auth.verify(s, secret=AUDIT_KEY)
        assert check.ok and check.entries == 1  # the chain as it was, intact
        assert s.scalar(select(func.count()).select_from(lt.bill_line)) == lines  # the runs as they were
        assert [r["period"] for r in led.list_runs(s)] == ["2024-11"]
        reg.register_worker(
            s, scope=EVERYTHING, nik=nik(51), name="After restore", valid_from=dt.date(2024, 6, 1), recorded_at=clock()
        )
    engine.dispose()


def test_a_broken_backup_is_refused_and_the_store_kept(db_url: str, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        firm(s, clock(), wages=[5_000_000])
    engine.dispose()
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"this is not a backup")
    with pytest.raises(backup.BackupFailed):
        backup.restore(db_url, junk)
    assert _workers(db_url) == 1
    with pytest.raises(backup.BackupFailed):
        backup.restore(db_url, tmp_path / "missing.backup")
