"""The web application: steering pages from a warehouse, operations screens on the operational store, and
the JSON API under ``/api``. Indonesian by default, English with ``?lang=en``."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from jamsos.api.app import HTTP_STATUS
from jamsos.api.app import create_app as create_api
from jamsos.auth import service as auth
from jamsos.auth.domain import STAFF
from jamsos.auth.sealer import audit_sealer
from jamsos.edge import jobs, values
from jamsos.edge.audit import Auditor, refused_request
from jamsos.edge.http import Budget, Guard
from jamsos.infra.db import make_engine
from jamsos.infra.migrate import require_current
from jamsos.infra.settings import Settings
from jamsos.kernel.errors import DomainError
from jamsos.rules.tree import load_parameters
from jamsos.web import admin, ops, pages, plan_pages, security
from jamsos.web.labels import lang_of
from jamsos.web.render import html_error, link
from jamsos.web.steering import Steering

STATUS = {**HTTP_STATUS, "period_missing": 404, "unknown_dimension": 404, "scenario_invalid": 422}


def create_app(
    settings: Settings,
    *,
    warehouse: Path | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    warm: bool | None = None,
) -> FastAPI:
    """The app for one operational store (``settings``) and one warehouse directory. ``warm`` (default: the
    ``web_warm`` setting) computes the steering figures of the latest month in the background at start-up."""
    security.mask_server_logs()
    tree = load_parameters(settings.rules_dir)
    probe = make_engine(settings.effective_database_url)
    try:
        require_current(probe)  # never serve an unmigrated store: say which it is and how to fix it
    finally:
        probe.dispose()
    directory = warehouse if warehouse is not None else settings.warehouse_dir
    steering = (
        Steering(directory, tree, cache=settings.web_cache, page_bytes=settings.web_page_cache_bytes)
        if directory is not None
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = settings.pool_options()
        if pool:
            # No more request threads than pooled connections: a thread never waits for a connection held by
            # a request that waits for a thread (under load that wait is a deadlock).
            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = min(limiter.total_tokens, pool["pool_size"] + pool["max_overflow"])
        if (settings.web_warm if warm is None else warm) and steering is not None and steering.available:
            threading.Thread(target=steering.warm, name="jamsos-warm", daemon=True).start()
        async with audit_sealer(app.state.engine, settings.audit_seal_seconds, app.state.audit_key):
            yield

    app = FastAPI(title="jamsos", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.engine = make_engine(settings.effective_database_url, **settings.pool_options())
    app.state.tree = tree
    app.state.steering = steering
    app.state.now = values.clock(settings.clock, clock)
    app.state.pseudonym_key = settings.secret("pseudonym_key")
    app.state.audit_key = settings.secret("audit_key")
    app.state.auditor = Auditor(app.state.pseudonym_key, app.state.audit_key, app.state.now)
    app.state.isolate_bytes = settings.isolate_upload_bytes
    app.state.upload_job = lambda who, source, path, filename: jobs.Upload(
        settings.effective_database_url, settings.rules_dir, app.state.pseudonym_key, app.state.audit_key, who,
        source, app.state.now(), path, filename,
    )  # fmt: skip
    app.state.login_limit = security.RateLimit(settings.login_attempts_per_minute)
    app.state.session_policy = auth.SessionPolicy(
        dt.timedelta(hours=settings.session_hours), dt.timedelta(minutes=settings.session_idle_minutes)
    )
    app.state.login_policy = auth.LoginPolicy(
        settings.login_max_failures, dt.timedelta(minutes=settings.login_lockout_minutes)
    )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        await refused_request(
            request, app.state.auditor, app.state.engine, source=security.source_of(request), error=exc
        )
        if exc.code == "not_authenticated":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/masuk?" + urlencode({"next": target}), status_code=303)
        return html_error(request, STATUS.get(exc.code, 400), str(exc))

    @app.get("/", include_in_schema=False)
    def home(request: Request, who: security.Who) -> RedirectResponse:
        return RedirectResponse(link(request, "/nasional" if who.role in STAFF else "/ops"), 307)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, object]:
        return {
            "status": "ok",
            "warehouse": None if steering is None else str(steering.directory),
            "cache": None
            if steering is None
            else {"hits": steering.hits, "misses": steering.misses, "page_bytes": steering.page_bytes},
            "warm": None if steering is None else steering.warmed.is_set(),
        }

    app.include_router(security.router)
    app.include_router(pages.router)
    app.include_router(plan_pages.router)
    app.include_router(ops.router)
    app.include_router(admin.router)
    app.add_middleware(Language)
    app.add_middleware(
        Guard,
        upload_bytes=settings.max_upload_bytes,
        body_bytes=settings.max_body_bytes,
        budget=Budget(per_user=settings.requests_per_user, per_address=settings.requests_per_address),
    )
    app.add_middleware(security.SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret("secret_key").decode(),
        session_cookie="jamsos_session",
        max_age=int(settings.session_hours * 3600),
        same_site="strict",
        https_only=settings.secure_cookies,
    )
    static = Path(str(resources.files("jamsos.web").joinpath("static")))
    app.mount("/static", StaticFiles(directory=static), name="static")
    app.mount("/api", create_api(settings, clock=clock, guard=False))
    return app


class Language:
    """``request.state.lang`` from ``?lang=`` (Indonesian by default)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            scope.setdefault("state", {})["lang"] = lang_of(query.get("lang", [None])[-1])
        await self.app(scope, receive, send)


def app_from_environment() -> FastAPI:
    """The app configured from JAMSOS_* settings (``jamsos serve``; ``uvicorn --factory``)."""
    from jamsos.infra.settings import load_settings

    return create_app(load_settings())
