"""Faults: a process killed in the middle of billing, a payment import or a warehouse export; a database
connection dropped mid-transaction; a full disk during export. Each leaves no partial state, and running the
job again finishes it exactly once.

The jobs run as real ``jamsos`` processes. "In the middle" is observed, not guessed: on SQLite the job holds
the write lock (``BEGIN IMMEDIATE``) while its transaction is open, so a test that cannot take the lock knows
the transaction is under way; on PostgreSQL the job's backend is seen in ``pg_stat_activity``."""

from __future__ import annotations

import datetime as dt
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from sqlalchemy import text

from jamsos.infra.db import make_engine, unit_of_work
from jamsos.kernel.period import Period
from jamsos.ledger import service as ledger
from jamsos.registry import imports
from jamsos.registry.domain import EVERYTHING
from jamsos.rules.tree import load_parameters
from jamsos.synth.operations import payment_file, population

pytestmark = pytest.mark.integration
TREE = load_parameters()
AT = dt.datetime(2024, 6, 20, 9)
MONTH = Period(2024, 7)
CLOCK = "2024-08-20T10:00:00"


def _populate(url: str, workers: int = 4000) -> None:
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        pop = population(
            regencies=["8271", "8272", "8204"], employers=60, pu_workers=workers, bpu_workers=workers // 3,
            start=dt.date(2024, 6, 1), seed=3,
        )  # fmt: skip
        imports.import_files(
            s,
            scope=EVERYTHING,
            employers=pop.employers,
            workers=pop.workers,
            memberships=pop.memberships,
            recorded_at=AT,
            recorded_by="t",
        )
    engine.dispose()


def _jamsos(url: str, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "JAMSOS_DATABASE_URL": url, "JAMSOS_CLOCK": CLOCK, **extra_env}
    return subprocess.Popen(
        [sys.executable, "-m", "jamsos.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _sqlite_locked(path: Path) -> bool:
    """Whether another connection holds the write lock (the job's transaction is open)."""
    con = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        con.close()


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the job ended before it could be interrupted: {proc.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            raise AssertionError("the job never reached the point to interrupt")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _runs(url: str) -> list[tuple[int, str, int, int]]:
    """(run, status, lines it says it has, lines it has) for every billing run."""
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        rows = s.execute(
            text(
                "SELECT r.id, r.status, r.lines, (SELECT count(*) FROM bill_line l WHERE l.run_id = r.id) "
                "FROM billing_run r ORDER BY r.id"
            )
        ).all()
    engine.dispose()
    return [(int(a), str(b), int(c), int(d)) for a, b, c, d in rows]


def _finish(proc: subprocess.Popen[bytes]) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode()


@pytest.fixture
def store(sqlite_template: Path, tmp_path: Path) -> tuple[str, Path]:
    db = tmp_path / "jamsos.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"
    _populate(url)
    return url, db


def test_a_billing_run_killed_mid_transaction_leaves_nothing_and_reruns_once(store: tuple[str, Path]) -> None:
    url, db = store
    proc = _jamsos(url, "bill", "run", str(MONTH), "--user", "ani")
    _kill_when(proc, lambda: _sqlite_locked(db))
    assert _runs(url) == []  # not a half-written run
    _finish(_jamsos(url, "bill", "run", str(MONTH), "--user", "ani"))
    [(_run, status, said, has)] = _runs(url)
    assert status == "draft" and said == has > 4000


def test_a_payment_import_killed_mid_transaction_posts_nothing_then_once(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    url, db = store
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        run = ledger.run_billing(s, scope=EVERYTHING, period=MONTH, maker="ani", tree=TREE, started_at=AT)
    with unit_of_work(engine) as s:
        ledger.approve_run(s, scope=EVERYTHING, run_id=run.run_id, checker="budi", tree=TREE, decided_at=AT)
        bills = [(b["va_number"], b["account_owed"], b["due"]) for b in ledger.bills_for_period(s, period=MONTH)]
    engine.dispose()
    bank = payment_file(bills, pay_share=1.0, late_share=0.2, seed=5, prefix="K-", not_after=dt.date(2024, 8, 20))
    file = tmp_path / "bank.csv"
    file.write_bytes(
        (
            "\n".join([",".join(bank.header), *(",".join(r[h] for h in bank.header) for _, r in bank.rows)]) + "\n"
        ).encode()
    )

    def payments() -> int:
        e = make_engine(url)
        with unit_of_work(e) as s:
            n = int(s.execute(text("SELECT count(*) FROM payment")).scalar_one())
        e.dispose()
        return n

    proc = _jamsos(url, "pay", "import", str(file), "--user", "bank")
    _kill_when(proc, lambda: _sqlite_locked(db))
    assert payments() == 0
    _finish(_jamsos(url, "pay", "import", str(file), "--user", "bank"))
    assert payments() == len(bank.rows) > 1000
    _finish(_jamsos(url, "pay", "import", str(file), "--user", "bank"))  # the same file again
    assert payments() == len(bank.rows)


def _approve_all(url: str) -> None:
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        run = ledger.run_billing(s, scope=EVERYTHING, period=MONTH, maker="ani", tree=TREE, started_at=AT)
    with unit_of_work(engine) as s:
        ledger.approve_run(s, scope=EVERYTHING, run_id=run.run_id, checker="budi", tree=TREE, decided_at=AT)
    engine.dispose()


def _dataset_rows(directory: Path) -> dict[str, int]:
    out = {}
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        files = sorted(str(f) for f in sub.rglob("*.parquet"))
        out[sub.name] = sum(ds.dataset(f).count_rows() for f in files)
    return out


def test_an_export_killed_midway_or_out_of_disk_finishes_exactly_once(store: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = store
    _approve_all(url)
    reference = tmp_path / "reference"
    _finish(_jamsos(url, "warehouse", "export", "--out", str(reference)))
    expected = _dataset_rows(reference)
    assert expected["contribution_lines"] > 4000

    killed = tmp_path / "killed"
    proc = _jamsos(url, "warehouse", "export", "--out", str(killed))
    _kill_when(proc, lambda: killed.exists() and any(killed.rglob("*.parquet*")))
    assert not (killed / "_jamsos_export.json").exists()  # the state is written last
    _finish(_jamsos(url, "warehouse", "export", "--out", str(killed)))
    assert _dataset_rows(killed) == expected

    full = tmp_path / "full"
    limit = 64 * 1024  # the disk "fills" after 64 KiB per file

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big write fails with EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "JAMSOS_DATABASE_URL": url, "JAMSOS_CLOCK": CLOCK}
    failed = subprocess.run(
        [sys.executable, "-m", "jamsos.cli", "warehouse", "export", "--out", str(full)],
        env=env, capture_output=True, preexec_fn=small_disk, timeout=300,
    )  # fmt: skip
    message = b" ".join(failed.stderr.split())
    assert failed.returncode == 27 and b"File too large" in message and b"run it again" in message
    assert not list(full.rglob("*.tmp"))  # no temporary file left behind
    assert not (full / "_jamsos_export.json").exists()
    assert all(ds.dataset(str(f)).count_rows() >= 0 for f in full.rglob("*.parquet"))  # no torn part file
    _finish(_jamsos(url, "warehouse", "export", "--out", str(full)))
    assert _dataset_rows(full) == expected
    _finish(_jamsos(url, "warehouse", "export", "--out", str(full)))  # again: nothing new, nothing doubled
    assert _dataset_rows(full) == expected


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has no connection to drop
def test_a_dropped_database_connection_rolls_back_the_run(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    admin = make_engine(db_url, isolation_level="AUTOCOMMIT")
    proc = _jamsos(db_url, "bill", "run", str(MONTH), "--user", "ani", PGAPPNAME="jamsos-fault-test")

    def in_transaction() -> bool:
        with admin.connect() as c:
            return bool(
                c.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'jamsos-fault-test' "
                        "AND xact_start IS NOT NULL AND query ILIKE '%bill%'"
                    )
                ).scalar_one()
            )

    deadline = time.monotonic() + 120
    while not in_transaction():
        assert proc.poll() is None, "the run ended before its connection could be dropped"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    with admin.connect() as c:
        c.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'jamsos-fault-test'")
        )
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    admin.dispose()
    assert _runs(db_url) == []
    _finish(_jamsos(db_url, "bill", "run", str(MONTH), "--user", "ani"))
    [(_run, status, said, has)] = _runs(db_url)
    assert status == "draft" and said == has > 4000
