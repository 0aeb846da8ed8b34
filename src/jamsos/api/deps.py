"""The API's typed dependencies: the app's context (store, rules, clock, audit), a unit of work per request, the
authenticated actor, a role check that runs before any body is read, upload forms, and the errors each operation
may answer (for the OpenAPI document)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from jamsos.api import schemas as s
from jamsos.auth import domain as authz
from jamsos.auth import service as auth
from jamsos.edge import jobs
from jamsos.edge.audit import Auditor, request_source
from jamsos.edge.http import known, upload_form
from jamsos.edge.values import Clock
from jamsos.infra.db import unit_of_work
from jamsos.infra.settings import Settings
from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.rules.tree import ParameterTree

# One table mapping domain error codes to HTTP statuses (DESIGN §4).
HTTP_STATUS = {
    "invalid_input": 422,
    "parameter_missing": 422,
    "invalid_parameters": 500,
    "unknown_parameter": 500,
    "not_found": 404,
    "duplicate_nik": 409,
    "duplicate_membership": 409,
    "four_eyes": 403,
    "run_not_pending": 409,
    "payment_conflict": 409,
    "request_decided": 409,
    "reference_missing": 503,
    "reference_in_use": 409,
    "not_authenticated": 401,
    "login_failed": 401,
    "forbidden": 403,
    "too_many_attempts": 429,
}

_WHY = {
    401: "no API token, or one that is unknown, expired or replaced",
    403: "the token's role may not do this, or four eyes are needed",
    404: "absent, or outside the token's scope (the two answer alike)",
    409: "conflicts with what is recorded (a duplicate, a decided run or request, a reference in use)",
    413: "the body or upload is larger than the server takes",
    422: "bad input: each problem names its field (and row, in a file); nothing was applied",
    429: "too many requests from this token or address; try again shortly",
    503: "reference data is not loaded",
}


def fails(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The refusals an operation may answer besides those of every call (401, 403, 413, 422, 429), each with the
    ``Problem`` body, for ``responses=`` of a route."""
    return {
        code: {"model": s.Problem, "description": _WHY[code]} for code in sorted({401, 403, 413, 422, 429, *statuses})
    }


@dataclass(frozen=True)
class Api:
    """What every operation of one app shares: its store, rules, clock, audit and settings."""

    settings: Settings
    engine: Engine
    tree: ParameterTree
    now: Clock
    auditor: Auditor
    pseudonym_key: bytes
    audit_key: bytes

    def job(self, request: Request, actor: authz.Principal, path: Path, filename: str) -> jobs.Upload:
        """What the worker process needs to apply an upload as this request would."""
        return jobs.Upload(
            self.settings.effective_database_url, self.settings.rules_dir, self.pseudonym_key, self.audit_key,
            actor, source(request), self.now(), path, filename,
        )  # fmt: skip


def source(request: Request) -> str:
    return request_source(request, "api")


def _context(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


Ctx = Annotated[Api, Depends(_context)]


def _rules(api: Ctx) -> ParameterTree:
    return api.tree


def _now(api: Ctx) -> dt.datetime:
    return api.now()


Rules = Annotated[ParameterTree, Depends(_rules)]
Now = Annotated[dt.datetime, Depends(_now)]  # the request's transaction time


def _session(api: Ctx) -> Iterator[Session]:
    """One unit of work per request: committed when the handler returns, rolled back on any error."""
    with unit_of_work(api.engine) as session:
        yield session


Db = Annotated[Session, Depends(_session)]
bearer = HTTPBearer(auto_error=False, description="An API token from `jamsos token create USER NAME`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def actor_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> authz.Principal:
    """The authenticated user, from ``Authorization: Bearer <token>``. Looked up on a connection of its own,
    returned at once: a request never holds a pooled connection while it waits for a thread (under load,
    threads waiting for connections held by requests waiting for threads deadlock the server)."""
    if credentials is None:
        raise authz.NotAuthenticated("give an API token: Authorization: Bearer <token>")
    api: Api = request.app.state.api
    with unit_of_work(api.engine) as session:
        actor = auth.principal_for_token(session, credentials.credentials, at=api.now())
    return known(request, actor, kind="t", secret=credentials.credentials)


def _actor(request: Request, credentials: Credentials) -> authz.Principal:
    return actor_of(request, credentials)


Actor = Annotated[authz.Principal, Depends(_actor)]


def allowed(action: str) -> Any:
    """The actor, once their role may take ``action``: as a dependency it runs before any body is read."""

    def check(actor: Actor) -> authz.Principal:
        actor.allow(action)
        return actor

    return Depends(check)


def uploads(files: tuple[str, ...], fields: tuple[str, ...] = (), max_files: int | None = None) -> Any:
    """An upload form as a dependency: declared after ``allowed``, it is read only for an allowed caller."""

    async def read(request: Request) -> FormData:
        return await upload_form(request, files=files, fields=fields, max_files=max_files)

    return Depends(read)


class Recorder:
    """The audit call of one request: every change and every read of personal data, a person named by a pseudonym,
    never the NIK; the request's last write (``Auditor.last_write``: committed with its change, the sealer chains
    it)."""

    def __init__(self, request: Request, db: Session, api: Api) -> None:
        self.request, self.db, self.api = request, db, api

    def __call__(
        self, actor: authz.Principal, action: str, entity: str, key: str | None = None, nik: str | None = None,
        **detail: Any,
    ) -> None:  # fmt: skip
        self.api.auditor.last_write(
            self.db, sealer_running=True, actor=actor, action=action, entity=entity, source=source(self.request),
            key=key, nik=nik, **detail,
        )  # fmt: skip


def _recorder(request: Request, db: Db, api: Ctx) -> Recorder:
    return Recorder(request, db, api)


Audit = Annotated[Recorder, Depends(_recorder)]

# Row ids fit the database's integers: a larger number is a 422, not a server error (found by schemathesis).
RowId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
Limit = Annotated[int, Query(ge=1, le=100_000)]


def confined(root: Path, given: str) -> Path:
    """A folder the API may write to: ``given`` relative to ``root`` (``JAMSOS_EXPORT_ROOT``), never outside it
    (an absolute path elsewhere or a ``..`` is refused), so an administrator's token cannot write anywhere the
    server's user can."""
    target = (root / given).resolve()
    if not target.is_relative_to(root.resolve()) or (target == root.resolve() and not given.strip("./")):
        raise InvalidInput(
            [FieldProblem("out", f"must be a folder inside the export root {root} (JAMSOS_EXPORT_ROOT)", value=given)]
        )
    return target
