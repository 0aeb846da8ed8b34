"""Logging in and out, who the request is (from the signed session cookie), CSRF tokens on every form,
login rate limiting, and the security headers of every answer."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jamsos.auth import domain as authz
from jamsos.auth import service as auth
from jamsos.edge.audit import request_source
from jamsos.edge.http import known, upload_form
from jamsos.edge.masking import mask_niks
from jamsos.infra.db import unit_of_work
from jamsos.kernel.errors import DomainError
from jamsos.web.render import TEMPLATES, Page, context

router = APIRouter()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class TooManyAttempts(DomainError):
    code = "too_many_attempts"


class CsrfFailed(DomainError):
    code = "forbidden"


# Query parameters that carry what someone searched for or whose record they opened: their values never reach a log.
PERSONAL_PARAMETERS = frozenset(("q", "nik", "kpj", "name", "va_number", "username"))
_QUERY_VALUE = re.compile(r"(?<=[?&])([^=&#\s]+)=([^&#\s]*)")
_FORMAT = logging.Formatter()


def redact_query(text: str) -> str:
    """The values of personal query parameters (a name searched for) replaced by ``***``."""
    return _QUERY_VALUE.sub(
        lambda m: f"{m.group(1)}=***" if m.group(1).lower() in PERSONAL_PARAMETERS else m.group(0), text
    )


def _clean(text: str) -> str:
    return mask_niks(redact_query(text))


def _cleaned(record: logging.LogRecord) -> logging.LogRecord:
    if isinstance(record.msg, str):
        record.msg = _clean(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_clean(a) if isinstance(a, str) else a for a in record.args)
    if record.exc_info and not record.exc_text:
        record.exc_text = _clean(_FORMAT.formatException(record.exc_info))
    return record


def mask_server_logs() -> None:
    """Every log record made in this process is cleaned as it is made (a record factory, so every logger and
    handler is covered, uvicorn's and any library's): no NIK in full (uvicorn's access log names every URL, and
    a worker's record is ``/api/workers/{nik}``), no value of a personal query parameter (``/ops?q=...``), no NIK
    in an exception's text or traceback. SQL errors carry no parameters at all (``infra.db.make_engine``)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "jamsos_masks", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _cleaned(make(*args, **kwargs))

    factory.jamsos_masks = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class SecurityHeaders:
    """The security headers of every answer (a plain ASGI middleware: it adds nothing but the headers, so the
    API's calls pay no more than a header rewrite)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("Referrer-Policy", "same-origin")
                h.setdefault("X-Frame-Options", "DENY")
                h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
                h.setdefault("Content-Security-Policy", CSP)
                if path.startswith(("/ops", "/admin", "/api")):
                    h["Cache-Control"] = "no-store"  # answers with personal data stay out of caches
            await send(message)

        await self.app(scope, receive, with_headers)


async def check_csrf(request: Request) -> None:
    """Every form posted to the web app carries the session's CSRF token (a form from another site cannot)."""
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not secrets.compare_digest(sent, request.session.get("csrf", "")):
        raise CsrfFailed("the form has expired or did not come from this site; reload the page and try again")


Csrf = Depends(check_csrf)


def _session(request: Request) -> Any:
    with unit_of_work(request.app.state.engine) as session:
        yield session


Db = Annotated[Session, Depends(_session)]


def principal(request: Request) -> authz.Principal:
    """The logged-in user (re-read each request, so a locked account stops at once), on a connection of its
    own returned at once (see ``api.deps.actor_of``)."""
    token = request.session.get("sid")
    if not isinstance(token, str) or not token:
        raise authz.NotAuthenticated("log in first")
    try:
        with unit_of_work(request.app.state.engine) as session:
            who = auth.principal_for_session(
                session, token, at=request.app.state.now(), policy=request.app.state.session_policy
            )
    except authz.NotAuthenticated:
        request.session.clear()
        raise
    return known(request, who, kind="s", secret=token)


def source_of(request: Request) -> str:
    return request_source(request, "web")


Who = Annotated[authz.Principal, Depends(principal)]


def allowed(action: str) -> Any:
    """The logged-in user, once their role may take ``action``: a dependency, so it runs before a body is read."""

    def check(who: Who) -> authz.Principal:
        who.allow(action)
        return who

    return Depends(check)


def uploads(files: tuple[str, ...], fields: tuple[str, ...] = ()) -> Any:
    """An upload form, read after ``allowed`` (an allowed user only) and checked for the session's CSRF token."""

    async def read(request: Request) -> FormData:
        form = await upload_form(request, files=files, fields=fields)
        sent = form.get("csrf")
        if not isinstance(sent, str) or not secrets.compare_digest(sent, request.session.get("csrf", "")):
            raise CsrfFailed("the form has expired or did not come from this site; reload the page and try again")
        return form

    return Depends(read)


class RateLimit:
    """At most ``per_minute`` login attempts per client address in any 60 seconds (the **limits** library's
    moving window, kept in memory)."""

    def __init__(self, per_minute: int) -> None:
        self.rate = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key: str) -> None:
        if not self._limiter.hit(self.rate, "login", key):
            raise TooManyAttempts("too many login attempts from this address; wait a minute")


def landing(p: authz.Principal) -> str:
    if p.may("steering"):
        return "/nasional"
    if p.role == "worker" and p.nik:
        return f"/ops/pekerja/{p.nik}"
    if p.role == "employer" and p.npp:
        return f"/ops/pemberi-kerja/{p.npp}"
    return "/ops"


def _login_page(request: Request, message: str = "", status: int = 200, next_url: str = "") -> Response:
    page = Page("", "login.html", extra={"message": message, "next": next_url})
    return TEMPLATES.TemplateResponse(request, "login.html", context(request, page), status_code=status)


@router.get("/masuk")
def login_form(request: Request, next: str = "") -> Response:
    return _login_page(request, next_url=next)


@router.post("/masuk", dependencies=[Csrf])
def login(
    request: Request,
    db: Db,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    app = request.app
    source = source_of(request)
    app.state.login_limit.check(source)
    try:  # a wrong password's count is kept: the transaction still commits
        who = auth.authenticate(
            db, username=username, password=password, at=app.state.now(), policy=app.state.login_policy
        )
    except authz.LoginFailed as exc:
        # The account attempted, when the name is one; anything else typed there (a password in the wrong field)
        # is never written down.
        known = auth.known_user(db, username)
        auth.record(
            db,
            secret=app.state.audit_key,
            actor="anonymous",
            action="login_failed",
            entity="user",
            at=app.state.now(),
            source=source,
            key=username if known else None,
            detail={"account": "known" if known else "unknown"},
        )
        return _login_page(request, str(exc), 401, next)
    request.session.clear()  # a new session at login, held by the server
    sid = auth.open_session(db, username=who.username, at=app.state.now(), policy=app.state.session_policy)
    request.session.update(sid=sid, csrf=secrets.token_urlsafe(32))
    app.state.auditor.record(db, actor=who, action="login", entity="user", source=source, key=who.username)
    target = next if next.startswith("/") and not next.startswith("//") else landing(who)
    return RedirectResponse(target, status_code=303)


@router.post("/keluar", dependencies=[Csrf])
def logout(request: Request, db: Db) -> Response:
    """Logging out ends the session on the server: a copy of the cookie is worth nothing afterwards."""
    token = request.session.get("sid")
    if isinstance(token, str) and token:
        auth.close_session(db, token=token, at=request.app.state.now())
    request.session.clear()
    return RedirectResponse("/masuk", status_code=303)
