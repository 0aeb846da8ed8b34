"""HTTP guards shared by the API and the web app: request bodies capped at the edge (streamed, a clear 413),
NUL refused before any handler sees it, and multipart uploads read only after the caller is known."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, TypeVar

from cachetools import LRUCache
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jamsos.infra.files import TableFile, read_table
from jamsos.kernel.errors import FieldProblem, InvalidInput


class BodyTooLarge(Exception):
    pass


class Budget:
    """What one client may ask per ``window`` seconds: a logged-in user (their API token, or their web session)
    ``per_user`` requests, anyone else ``per_address`` from one address. Over budget, the answer is a 429 given
    after a pause, which holds the client's connection, not the server: a client looping as fast as it can then
    asks about once a second. Static files are not counted. Kept in memory (the **limits** library), per process.

    A credential counts as a user's only once it has been found valid (``vouch``, called by the API and the web app
    when they authenticate it): until then credentials share one budget per address (apart from requests with none),
    so inventing tokens or cookies buys nothing."""

    def __init__(self, *, per_user: int, per_address: int, window: int = 10, pause: float = 1.0) -> None:
        self.user = RateLimitItemPerSecond(per_user, window)
        self.address = RateLimitItemPerSecond(per_address, window)
        self.pause = pause
        self._limiter = FixedWindowRateLimiter(MemoryStorage())
        self._vouched: LRUCache[str, bool] = LRUCache(maxsize=100_000)

    @staticmethod
    def _key(kind: str, secret: str | bytes) -> str:
        raw = secret.encode() if isinstance(secret, str) else secret
        return kind + ":" + hashlib.sha256(raw.strip()).hexdigest()[:24]

    def vouch(self, kind: str, secret: str) -> None:
        """``secret`` (an API token: ``t``; a web session: ``s``) was just found valid."""
        self._vouched[self._key(kind, secret)] = True

    def allows(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        if scope["path"].startswith(("/static/", "/api/static/")):
            return True
        bearer = headers.get(b"authorization", b"")
        sid = (scope.get("session") or {}).get("sid")
        key = None
        if bearer.lower().startswith(b"bearer "):
            key = self._key("t", bearer[7:])
        elif isinstance(sid, str):
            key = self._key("s", sid)
        if key is not None and key in self._vouched:
            return bool(self._limiter.hit(self.user, key))
        client = str((scope.get("client") or ("?", 0))[0])
        # credentials not yet found valid, and requests without any, each share a budget per address
        return bool(self._limiter.hit(self.address, ("u:" if key else "a:") + client))


T = TypeVar("T")


def known(request: Request, who: T, *, kind: str, secret: str) -> T:
    """The caller of ``request`` is now known: remember them for the record of a refused attempt, and let the
    client's budget count its requests by the credential (``kind``: ``t`` an API token, ``s`` a web session) that
    was just found valid. Returns ``who``."""
    request.state.actor = who
    budget = getattr(request.state, "budget", None)
    if budget is not None:
        budget.vouch(kind, secret)
    return who


class Guard:
    """An ASGI middleware in front of everything: a body larger than its limit is refused with 413 before it is
    read (by its Content-Length) or as soon as it grows past the limit (streamed, chunked bodies included), so
    no handler, form parser or temporary file ever holds more. Uploads (multipart) may be ``upload_bytes``
    long, every other body ``body_bytes``. A NUL in the path or query string is refused. A client past its
    ``budget`` of requests waits, then gets a 429."""

    def __init__(self, app: ASGIApp, *, upload_bytes: int, body_bytes: int, budget: Budget | None = None) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.body_bytes = body_bytes
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        scope.setdefault("state", {})["budget"] = self.budget  # for the authentication to vouch for a credential
        if self.budget is not None and not self.budget.allows(scope, headers):
            await asyncio.sleep(self.budget.pause)
            await _answer(send, 429, "too_many_requests", "too many requests from this client; slow down", retry=1)
            return
        if "\x00" in scope["path"] or has_nul(scope.get("query_string", b"")):
            await _answer(send, 422, "invalid_input", NUL)
            return
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.upload_bytes if multipart else self.body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, "too_large", _too_large(limit))
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            if multipart or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
                await self.app(scope, counted, sending)
                return
            # A small body (JSON, a form): read it whole, refuse a NUL in it, then hand it on unchanged.
            body = bytearray()
            while True:
                message = await counted()
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            form = headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded")
            if has_nul(bytes(body), urlencoded=form):
                await _answer(send, 422, "invalid_input", NUL)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": bytes(body), "more_body": False}
                return await receive()

            await self.app(scope, replay, sending)
        except BodyTooLarge:
            if not started:
                await _answer(send, 413, "too_large", _too_large(limit))


NUL = "a NUL character is not accepted anywhere in a request"


def has_nul(data: bytes, *, urlencoded: bool = True) -> bool:
    """A NUL as a byte, percent-encoded (a query string or a form) or JSON-escaped."""
    lowered = data.lower()
    return b"\x00" in data or (b"%00" in lowered if urlencoded else b"\\u0000" in lowered)


def _too_large(limit: int) -> str:
    return f"the request is larger than {limit / 2**20:g} MiB; split the file or ask an administrator"


async def _answer(send: Send, status: int, code: str, message: str, retry: int | None = None) -> None:
    body = json.dumps({"code": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry is not None:
        headers.append((b"retry-after", str(retry).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def refuse_nul(values: dict[str, Any]) -> None:
    """Text fields of a form or body never carry NUL (PostgreSQL refuses it, and no name or code has one)."""
    bad = [k for k, v in values.items() if isinstance(v, str) and "\x00" in v]
    if bad:
        raise InvalidInput([FieldProblem(k, "a NUL character is not accepted") for k in bad])


async def upload_form(
    request: Request, *, files: tuple[str, ...], fields: tuple[str, ...], max_files: int | None = None
) -> FormData:
    """The multipart form of an upload, read only now: after the caller was authenticated and allowed (the
    route's dependencies before this one), within the edge's size limit. Unknown parts are refused."""
    form = await request.form(max_files=max_files or len(files), max_fields=len(fields) + 1)
    problems = [FieldProblem(k, "is not a field of this form") for k in form if k not in (*files, *fields, "csrf")]
    problems += [FieldProblem(k, "must be a file") for k in files if k in form and not isinstance(form[k], UploadFile)]
    if problems:
        raise InvalidInput(problems)
    refuse_nul({k: v for k, v in form.items() if isinstance(v, str)})
    return form


def multipart_body(files: tuple[str, ...], fields: tuple[str, ...] = (), required: tuple[str, ...] = ()) -> Any:
    """The OpenAPI description of an upload read by ``upload_form`` (FastAPI cannot see it)."""
    props: dict[str, Any] = {f: {"type": "string", "format": "binary"} for f in files}
    props |= {f: {"type": "string"} for f in fields}
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return {"requestBody": {"required": bool(required), "content": {"multipart/form-data": {"schema": schema}}}}


def form_text(form: FormData, name: str) -> str:
    """A required text field of an upload form."""
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput([FieldProblem(name, "is required")])
    return value.strip()


def form_file(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) else None


def form_table(form: FormData, name: str, default_name: str) -> TableFile:
    """An uploaded table (CSV or XLSX), parsed within ``infra.files``' limits; call it off the event loop."""
    upload = form_file(form, name)
    if upload is None:
        raise InvalidInput([FieldProblem(name, "a file is required")])
    upload.file.seek(0)
    return read_table(upload.file.read(), upload.filename or default_name)
