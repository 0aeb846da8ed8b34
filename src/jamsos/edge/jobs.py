"""Big uploads are checked and applied in a worker process of lower priority, so that a 700,000-row file does not
take the interpreter lock and the CPU of the process serving everyone else (measured: bench/load.py). The same
service functions run there as in the request; the job opens its own unit of work and writes its audit entry in
it. Small files (under ``isolate_bytes``) are handled in the request, where they cost less than starting a job."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from starlette.datastructures import UploadFile

from jamsos.auth.domain import Principal
from jamsos.edge.audit import Auditor
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.files import read_table
from jamsos.kernel.period import Period
from jamsos.ledger import service as ledger
from jamsos.rules.tree import load_parameters

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _lower_priority() -> None:
    os.nice(10)  # the serving processes come first


def _executor() -> ProcessPoolExecutor:
    """One worker process at a time per server process, started fresh ("spawn": nothing of the server's threads
    or connections is inherited) and replaced after each job, so its memory is given back."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority,
                max_tasks_per_child=1,
            )
        return _pool


@dataclass(frozen=True)
class Upload:
    """What a job needs to apply an uploaded file as the request would have: the store, the keys, who and when."""

    database_url: str
    rules_dir: Path | None
    pseudonym_key: bytes
    audit_key: bytes
    actor: Principal
    source: str
    at: dt.datetime
    path: Path
    filename: str


@cache
def _engine(url: str) -> Engine:
    return make_engine(url)


def _run(job: Upload, apply: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    table = read_table(job.path.read_bytes(), job.filename)
    with unit_of_work(_engine(job.database_url)) as session:
        return apply((session, table, Auditor(job.pseudonym_key, job.audit_key, lambda: job.at)))


def declare(job: Upload, npp: str, period: str) -> dict[str, Any]:
    """A wage declaration, checked and stored, with its audit entry (``ledger.declare_wages``)."""

    def apply(ctx: Any) -> dict[str, Any]:
        session, table, auditor = ctx
        result = ledger.declare_wages(
            session, npp=npp, period=Period.parse(period), table=table, recorded_at=job.at,
            recorded_by=job.actor.username, scope=job.actor.scope,
        )  # fmt: skip
        auditor.record(
            session, actor=job.actor, action="declare_wages", entity="declaration", source=job.source,
            key=f"{npp}/{period}", rows=result.rows,
        )  # fmt: skip
        return dict(result.__dict__)

    return _run(job, apply)


def payments(job: Upload) -> dict[str, Any]:
    """A bank file, checked, posted and allocated, with its audit entry (``ledger.import_payments``)."""

    def apply(ctx: Any) -> dict[str, Any]:
        session, table, auditor = ctx
        result = ledger.import_payments(
            session, table=table, tree=load_parameters(job.rules_dir), recorded_at=job.at,
            recorded_by=job.actor.username, scope=job.actor.scope,
        ).to_json()  # fmt: skip
        auditor.record(
            session, actor=job.actor, action="import_payments", entity="payment_file", source=job.source,
            key=result["file"], posted=result["posted"],
        )  # fmt: skip
        return result

    return _run(job, apply)


def in_worker(fn: Callable[..., dict[str, Any]], job: Upload, *args: Any) -> dict[str, Any]:
    """``fn(job, *args)`` in the worker process; its domain errors come back as themselves."""
    return _executor().submit(fn, job, *args).result()


def worker_for(upload: UploadFile, *, isolate_bytes: int) -> bool:
    """Whether an uploaded file is big enough to be applied in the worker process."""
    return (upload.size or 0) > isolate_bytes


def apply_in_worker(
    fn: Callable[..., dict[str, Any]], upload: UploadFile, job: Callable[[Path, str], Upload], *args: Any
) -> dict[str, Any]:
    """Hand an uploaded file to the worker process: copied to a private temporary file (0600) the job reads and
    that is removed afterwards. ``job(path, filename)`` builds the job."""
    fd, name = tempfile.mkstemp(prefix="jamsos-upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, out, 2**20)
        return in_worker(fn, job(Path(name), upload.filename or "upload.csv"), *args)
    finally:
        os.unlink(name)
