"""Administration pages: the audit log, browsable, with the check of its hash chain."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jamsos.auth import service as auth
from jamsos.web.labels import t
from jamsos.web.render import Page, page_response
from jamsos.web.security import Db, Who
from jamsos.web.tables import Column, Table

router = APIRouter(prefix="/admin")


@router.get("/audit")
def audit_log(request: Request, db: Db, who: Who, actor: str | None = None, before: int | None = None) -> Response:
    who.allow("audit")
    lang = request.state.lang
    rows = auth.entries(db, limit=200, before_id=before, actor=actor or None)
    check = auth.last_check(db)  # verified by the sealer from its checkpoint: nothing recomputed here
    table = Table(
        "audit",
        t(lang, "audit"),
        [
            Column("id", "int"),
            Column("at"),
            Column("actor"),
            Column("role"),
            Column("action"),
            Column("entity"),
            Column("entity_key"),
            Column("source"),
            Column("detail"),
        ],
        rows,
    )
    return page_response(
        request,
        Page(
            "admin",
            "admin_audit.html",
            tables=[table],
            extra={"check": check, "actor": actor or "", "older": rows[-1]["id"] if len(rows) == 200 else None},
        ),
    )
