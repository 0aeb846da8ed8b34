"""System operations: health, who the token is, and rotating the token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from jamsos.api import schemas as s
from jamsos.api.deps import (
    Actor,
    Audit,
    Ctx,
    Db,
    Now,
    Rules,
    actor_of,
    bearer,
    fails,
)
from jamsos.auth import domain as authz
from jamsos.auth import service as auth

router = APIRouter()


@router.get("/health", response_model=s.Health, responses=fails(), tags=["system"])
def health(rules: Rules) -> dict[str, str]:
    return {"status": "ok", "rules": rules.fingerprint[:12]}


@router.post("/tokens/rotate", response_model=s.RotatedToken, responses=fails(), tags=["system"])
def rotate(
    now: Now,
    audit: Audit,
    api: Ctx,
    request: Request,
    db: Db,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict[str, Any]:
    """Replace the token this call is made with by a new one (printed once; the old one stops at once)."""
    if credentials is None:
        raise authz.NotAuthenticated("give an API token: Authorization: Bearer <token>")
    actor = actor_of(request, credentials)
    new = auth.rotate_token(db, token=credentials.credentials, at=now, days=api.settings.token_days)
    audit(actor, "rotate_token", "user", key=actor.username)
    return {"token": new, "expires_in_days": api.settings.token_days}


@router.get("/whoami", response_model=s.Me, responses=fails(), tags=["system"])
def whoami(actor: Actor) -> dict[str, Any]:
    return {"user": actor.username, "role": actor.role, "kanwil": actor.kanwil, "branch": actor.branch}
