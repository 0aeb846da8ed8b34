"""Administration commands: users and their roles, API tokens, and the audit log."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from jamsos.auth import service as auth
from jamsos.cli.common import actor as acting_as
from jamsos.cli.common import audit, audit_key, domain_errors, engine, now, out, settings
from jamsos.infra.db import unit_of_work

user_app = typer.Typer(help="Users: roles (admin, head_office, kanwil, branch, employer, worker) and scopes.")
token_app = typer.Typer(help="API tokens (Authorization: Bearer …), shown once and kept only as hashes.")
audit_app = typer.Typer(help="The audit log: every change and every read of personal data, hash-chained.")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(audit_app, name="audit")


def _record(session: Session, action: str, username: str, detail: dict[str, str] | None = None) -> None:
    """The audit entry of an administration command; with JAMSOS_USER set, that account must be an
    administrator (``cli.common.actor``)."""
    audit(session, acting_as(session, "users"), action, "user", key=username, **(detail or {}))


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, head_office, kanwil, branch, employer, worker")],
    kanwil: Annotated[str | None, typer.Option(help="For a kanwil user: its code, e.g. sulama.")] = None,
    branch: Annotated[str | None, typer.Option(help="For a branch officer: e.g. KC-TERNATE.")] = None,
    npp: Annotated[str | None, typer.Option(help="For an employer user: its NPP.")] = None,
    nik: Annotated[str | None, typer.Option(help="For a worker user: their NIK.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create a user (the password is asked for, never given on the command line)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt("Password", hide_input=True)
    with domain_errors(), unit_of_work(engine()) as s:
        at = now()
        auth.create_user(
            s,
            username=username,
            password=password,
            role=role,
            created_at=at,
            kanwil=kanwil,
            branch=branch,
            npp=npp,
            nik=nik,
        )
        _record(s, "create_user", username, {"role": role})
    out.print(f"user {username} ({role}) created", highlight=False)


@user_app.command("list")
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    with domain_errors(), unit_of_work(engine()) as s:
        acting_as(s, "users")
        rows = auth.list_users(s)
    if as_json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
        return
    t = Table("user", "role", "kanwil", "branch", "npp", "nik", "active", "locked until")
    for r in rows:
        t.add_row(*(str(v) if v is not None else "" for v in r.values()))
    out.print(t)


def _set_active(username: str, active: bool) -> None:
    with domain_errors(), unit_of_work(engine()) as s:
        auth.set_active(s, username=username, active=active, at=now())
        action = "unlock_user" if active else "lock_user"
        _record(s, action, username)
    out.print(f"user {username} {'active' if active else 'locked'}", highlight=False)


@user_app.command("lock")
def user_lock(username: str) -> None:
    """Lock a user out (sessions and tokens stop working)."""
    _set_active(username, False)


@user_app.command("unlock")
def user_unlock(username: str) -> None:
    """Let a user in again (also clears a lockout after wrong passwords)."""
    _set_active(username, True)


@token_app.command("create")
def token_create(
    username: str,
    name: str,
    days: Annotated[int | None, typer.Option(help="Lifetime in days (default JAMSOS_TOKEN_DAYS, 90).")] = None,
) -> None:
    """Create an API token for a user, valid for --days; it is printed once."""
    with domain_errors(), unit_of_work(engine()) as s:
        lifetime = days or settings().token_days
        token = auth.create_token(s, username=username, name=name, created_at=now(), days=lifetime)
        _record(s, "create_token", username, {"name": name, "days": str(lifetime)})
    sys.stdout.write(token + "\n")


@token_app.command("rotate")
def token_rotate(
    days: Annotated[int | None, typer.Option(help="Lifetime of the new token in days.")] = None,
) -> None:
    """Replace a token (read from standard input) by a new one of the same name; the old one stops at once."""
    with domain_errors(), unit_of_work(engine()) as s:
        old = sys.stdin.readline().strip()
        new = auth.rotate_token(s, token=old, at=now(), days=days or settings().token_days)
        who = auth.principal_for_token(s, new, at=now())
        _record(s, "rotate_token", who.username)
    sys.stdout.write(new + "\n")


@token_app.command("revoke")
def token_revoke(username: str, name: str) -> None:
    with domain_errors(), unit_of_work(engine()) as s:
        n = auth.revoke_token(s, username=username, name=name, at=now())
        _record(s, "revoke_token", username, {"name": name})
    out.print(f"{n} token(s) revoked", highlight=False)


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    expect_head: Annotated[
        str | None, typer.Option(help="SEQ:HASH printed by jamsos db backup: it must still be on the chain.")
    ] = None,
) -> None:
    """Recompute the whole keyed hash chain (and move the checkpoint the server verifies from); exits 1 when an
    entry was changed, removed or forged, or the expected head is not on the chain."""
    with domain_errors(), unit_of_work(engine()) as s:
        acting_as(s, "audit")
        check = auth.verify(s, secret=audit_key(), expect_head=expect_head)
        if check.ok:
            auth.checkpoint(s, secret=audit_key(), at=now())
    if as_json:
        sys.stdout.write(json.dumps(check.to_json()) + "\n")
    elif check.ok:
        out.print(f"audit log intact: {check.entries} entries, head {check.head}", highlight=False)
    else:
        out.print(f"[red]audit log broken[/] at entry {check.first_bad_id}: {check.reason}", highlight=False)
    if not check.ok:
        raise typer.Exit(1)


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option()] = 50,
    actor: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest entries first."""
    with domain_errors(), unit_of_work(engine()) as s:
        acting_as(s, "audit")
        rows = auth.entries(s, limit=limit, actor=actor)
    if as_json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
        return
    t = Table("id", "at", "actor", "role", "action", "entity", "key", "source")
    for r in rows:
        t.add_row(
            str(r["id"]),
            f"{r['at']:%Y-%m-%d %H:%M:%S}",
            r["actor"],
            r["role"],
            r["action"],
            r["entity"],
            r["entity_key"] or "",
            r["source"],
        )
    out.print(t)
