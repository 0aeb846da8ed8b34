"""The audit sealer of a running server: a thread that chains new audit entries every few seconds, moves the
verification checkpoint after each round, and seals once more at shutdown."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from sqlalchemy import Engine

from jamsos.auth import service as auth
from jamsos.infra.db import unit_of_work

log = logging.getLogger(__name__)


@asynccontextmanager
async def audit_sealer(engine: Engine, every: float, secret: bytes) -> AsyncIterator[None]:
    """While the server runs, a thread seals (chains) new audit entries every ``every`` seconds and verifies the
    chain from the last checkpoint to the new head (so no request ever recomputes it), and seals once more at
    shutdown. Requests only insert their entries; with several server processes each runs one, and the head's
    row lock lets one seal at a time."""
    stop = threading.Event()

    def run() -> None:
        while True:
            stopping = stop.wait(every)
            try:
                with unit_of_work(engine) as session:
                    sealed = auth.seal(session, secret=secret)
                    while sealed and stopping:
                        sealed = auth.seal(session, secret=secret)
                with unit_of_work(engine) as session:
                    check = auth.checkpoint(session, secret=secret, at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
                if not check.ok:
                    log.error("the audit chain is broken at entry %s: %s", check.first_bad_id, check.reason)
            except Exception:  # a database away for a moment: the next round seals what is left
                log.exception("sealing the audit log failed; retrying in %s s", every)
            if stopping:
                return

    thread = threading.Thread(target=run, name="jamsos-audit-sealer", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        await anyio.to_thread.run_sync(thread.join)
