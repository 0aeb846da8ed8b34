"""A payment import killed halfway leaves nothing posted; the re-run posts the file exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from tests.conftest import Clock
from tests.ledger.test_billing import run_and_approve
from tests.scenario import firm

from jamsos.infra.db import unit_of_work
from jamsos.infra.migrate import head_revision
from jamsos.ledger import tables as lt
from jamsos.rules.tree import ParameterTree

pytestmark = pytest.mark.integration
ROWS = 300_000


def _jamsos(db_url: str, *args: str) -> subprocess.Popen[str]:
    env = os.environ | {"JAMSOS_DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1", "JAMSOS_CLOCK": "2025-02-01T10:00:00"}
    return subprocess.Popen(
        [sys.executable, "-m", "jamsos.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _count(engine: Engine) -> int:
    with unit_of_work(engine) as s:
        return int(s.scalar(select(func.count()).select_from(lt.payment)) or 0)


def test_killed_import_posts_nothing_and_rerun_posts_once(
    engine: Engine, db_url: str, tree: ParameterTree, clock: Clock, tmp_path: Path
) -> None:
    assert head_revision() is not None
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000])
    run_and_approve(engine, tree, clock)
    bank = tmp_path / "bank.csv"
    with bank.open("w") as fh:
        fh.write("reference,va_number,amount,paid_on\n")
        for i in range(ROWS):
            fh.write(f"K{i:08d},{f.va},1000,2025-01-10\n")
    proc = _jamsos(db_url, "pay", "import", str(bank))
    assert proc.stdout is not None
    line = proc.stdout.readline()  # printed after validation, before posting
    assert "posting" in line, (line, proc.stderr.read() if proc.stderr else "")
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL  # it really died mid-import
    assert _count(engine) == 0  # nothing half-posted
    done = _jamsos(db_url, "pay", "import", str(bank))
    out, err = done.communicate(timeout=600)
    assert done.returncode == 0, err
    assert _count(engine) == ROWS
    again = _jamsos(db_url, "pay", "import", str(bank))
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    summary = json.loads(out[out.index("{") :])
    assert (summary["posted"], summary["already_posted"]) == (0, ROWS)
    assert _count(engine) == ROWS
    with unit_of_work(engine) as s:
        allocated = s.scalar(select(func.sum(lt.allocation.c.amount)))
        bill_due = s.scalar(select(func.sum(lt.bill_line.c.amount)).where(lt.bill_line.c.bill_id.is_not(None)))
    assert allocated == bill_due  # the bill was paid once, the rest is credit
