"""The FastAPI application: one router per context (``api.routes``), typed dependencies (``api.deps``), a unit
of work per request, and every refusal answered as a ``Problem`` with the status of its domain error."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from jamsos.api.deps import HTTP_STATUS, Api, source
from jamsos.api.routes import admin, ledger, registry, system
from jamsos.auth.sealer import audit_sealer
from jamsos.edge import values
from jamsos.edge.audit import Auditor, refused_request
from jamsos.edge.http import Budget, Guard
from jamsos.edge.problems import refusal
from jamsos.infra.db import make_engine
from jamsos.infra.settings import Settings
from jamsos.kernel.errors import DomainError
from jamsos.rules.tree import load_parameters

log = logging.getLogger(__name__)

__all__ = ["HTTP_STATUS", "app_from_environment", "create_app"]


def create_app(settings: Settings, clock: Callable[[], dt.datetime] | None = None, *, guard: bool = True) -> FastAPI:
    """Build the app for one store and parameter tree. ``clock`` gives transaction time (UTC). ``guard`` caps
    request bodies (the web app, which mounts this one, guards both itself)."""
    engine = make_engine(settings.effective_database_url, **settings.pool_options())
    now = values.clock(settings.clock, clock)
    pseudonym_key = settings.secret("pseudonym_key")
    audit_key = settings.secret("audit_key")
    auditor = Auditor(pseudonym_key, audit_key, now)
    api = Api(settings, engine, load_parameters(settings.rules_dir), now, auditor, pseudonym_key, audit_key)

    app = FastAPI(
        title="jamsos operations API",
        version="0.2.0",
        docs_url=None,  # /docs below serves the vendored Swagger UI: no CDN, no inline script
        redoc_url=None,
        lifespan=lambda _: audit_sealer(engine, settings.audit_seal_seconds, audit_key),  # when run on its own
        description=(
            "Registry, wage declarations, billing (maker–checker), payments, arrears and active status. Every "
            "call needs an API token (`Authorization: Bearer …`); what a token's user may do and see follows "
            "their role and scope, and a record outside the scope answers 404."
        ),
    )
    app.state.api = api
    app.state.engine = engine
    app.state.now = now
    if guard:
        app.add_middleware(
            Guard,
            upload_bytes=settings.max_upload_bytes,
            body_bytes=settings.max_body_bytes,
            budget=Budget(per_user=settings.requests_per_user, per_address=settings.requests_per_address),
        )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        await refused_request(request, auditor, engine, source=source(request), error=exc)
        shown = refusal(exc)
        body: dict[str, Any] = {"code": shown.code, "message": shown.message}
        if shown.invalid_input:
            body |= {"total": shown.total, "problems": shown.problems}
        return JSONResponse(body, status_code=HTTP_STATUS.get(exc.code, 400))

    app.mount("/static", StaticFiles(directory=str(resources.files("jamsos.api").joinpath("static"))), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        """The OpenAPI document in Swagger UI 5.32.0 (Apache-2.0), vendored in ``api/static``."""
        root = request.scope.get("root_path", "")
        return HTMLResponse(
            f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{app.title}</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="{root}/static/swagger-ui-5.32.0.css"></head>
<body><div id="swagger-ui" data-openapi="{root}{app.openapi_url}"></div>
<script src="{root}/static/swagger-ui-bundle-5.32.0.js"></script>
<script src="{root}/static/docs.js"></script></body></html>"""
        )

    for routes in (system, admin, registry, ledger):
        app.include_router(routes.router)
    return app


def app_from_environment() -> FastAPI:
    """The app configured from JAMSOS_* settings (used by ``jamsos serve`` and ``uvicorn --factory``)."""
    from jamsos.infra.settings import load_settings

    return create_app(load_settings())
