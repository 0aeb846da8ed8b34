"""The audit call of every edge: changes and reads of personal data, and refused attempts, one semantics."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from jamsos.auth import domain as authz
from jamsos.auth import service as auth
from jamsos.infra.db import unit_of_work
from jamsos.kernel.errors import DomainError
from jamsos.kernel.pseudonym import pseudonym

log = logging.getLogger(__name__)

# Refusals worth a record: an action the role may not take, and a record the actor may not see (or that does
# not exist: the two answer alike, and probing either is what the record is for).
REFUSALS = ("forbidden", "not_found")


@dataclass(frozen=True)
class Auditor:
    """Writes audit entries for one edge: ``now`` gives the time, a person is named by a keyed pseudonym."""

    pseudonym_key: bytes
    audit_key: bytes
    now: Callable[[], dt.datetime]

    def name(self, *, key: str | None = None, nik: str | None = None) -> str | None:
        return pseudonym(self.pseudonym_key, nik) if nik else key

    def record(
        self,
        session: Session,
        *,
        actor: authz.Principal | str,
        action: str,
        entity: str,
        source: str,
        key: str | None = None,
        nik: str | None = None,
        **detail: Any,
    ) -> None:
        """One entry in the caller's transaction: the change it records and the entry commit together."""
        auth.record(
            session,
            secret=self.audit_key,
            actor=actor,
            action=action,
            entity=entity,
            at=self.now(),
            source=source,
            key=self.name(key=key, nik=nik),
            detail=detail,
        )

    def last_write(self, session: Session, *, sealer_running: bool, **entry: Any) -> None:
        """The entry of a request or command, as its last write, and the one decision on what follows it. Where
        the sealer thread runs (a server), commit now with the change it records: the request's row locks and
        its connection are released at once, and the sealer chains the entry within seconds. Where none runs (a
        command), seal it in the same transaction: the change and its chained entry commit together."""
        self.record(session, **entry)  # actor, action, entity, source, key, nik and details, as ``record`` takes them
        if sealer_running:
            session.commit()
        else:
            auth.seal(session, secret=self.audit_key)

    def refused(
        self,
        engine: Engine,
        *,
        actor: authz.Principal | str,
        attempted: str,
        source: str,
        error: DomainError,
        seal: bool = False,
    ) -> None:
        """A refused attempt, in a transaction of its own (the attempt's own was rolled back). The record named
        by the attempt appears as a pseudonym when it is a person; a failure to write is logged, never raised
        over the answer the user is owed."""
        if error.code not in REFUSALS or (error.code == "not_found" and not error.details):
            return  # a "not found" that names no record (no warehouse, no such page) is no probe
        details: dict[str, Any] = {k: v for k, v in error.details.items() if k != "nik" and isinstance(v, str | int)}
        nik = error.details.get("nik")
        try:
            with unit_of_work(engine) as session:
                self.record(
                    session,
                    actor=actor,
                    action="refused",
                    entity="request",
                    source=source,
                    key=self.name(key=attempted, nik=nik if isinstance(nik, str) else None),
                    attempted=attempted,
                    code=error.code,
                    **details,
                )
                if seal:  # a command line is not a busy server: chain the entry at once
                    auth.seal(session, secret=self.audit_key)
        except Exception:  # the store may be the very thing that failed
            log.exception("could not record a refused attempt")


def request_source(request: Request, edge: str) -> str:
    """Where a request came from, as the audit log names it: the edge (``api``, ``web``) and the client's address
    (behind a trusted proxy, the address it forwards; see ``cli.store.uvicorn_options``)."""
    return f"{edge}:{request.client.host if request.client else '?'}"


async def refused_request(
    request: Request, auditor: Auditor, engine: Engine, *, source: str, error: DomainError
) -> None:
    """The record of a request refused with ``error``, when an actor was known (the API's and the web app's error
    handlers): what was attempted is the method and the route, written off the event loop."""
    actor = getattr(request.state, "actor", None)
    if actor is None or error.code not in REFUSALS:
        return
    route = request.scope.get("route")
    attempted = f"{request.method} {getattr(route, 'path', request.url.path)}"
    await run_in_threadpool(auditor.refused, engine, actor=actor, attempted=attempted, source=source, error=error)
