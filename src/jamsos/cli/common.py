"""What every command shares: consoles, the error-code → exit-code table, settings, store and clock."""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import io
import json
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from jamsos.auth import service as auth
from jamsos.auth.domain import Principal
from jamsos.edge import values
from jamsos.edge.audit import REFUSALS, Auditor
from jamsos.edge.masking import redact
from jamsos.edge.problems import refusal
from jamsos.edge.spreadsheet import csv_cell
from jamsos.infra.db import make_engine
from jamsos.infra.migrate import require_current
from jamsos.infra.settings import Settings, load_settings
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput
from jamsos.registry.domain import EVERYTHING, Scope
from jamsos.rules.tree import ParameterTree, load_parameters

out = Console()
err = Console(stderr=True, soft_wrap=True)

# One table mapping domain error codes to exit codes (DESIGN §4).
EXIT_CODES = {
    "invalid_input": 2,
    "parameter_missing": 3,
    "invalid_parameters": 4,
    "unknown_parameter": 5,
    "not_found": 6,
    "duplicate_nik": 7,
    "duplicate_membership": 7,
    "four_eyes": 8,
    "run_not_pending": 9,
    "payment_conflict": 10,
    "reference_missing": 11,
    "reference_in_use": 12,
    "schema_outdated": 13,
    "synth_invalid": 14,
    "warehouse_missing": 15,
    "unknown_engine": 16,
    "unknown_dimension": 17,
    "period_missing": 18,
    "unknown_dataset": 19,
    "forecast_invalid": 20,
    "target_missing": 21,
    "scenario_invalid": 22,
    "forbidden": 23,
    "not_authenticated": 24,
    "login_failed": 24,
    "backup_failed": 26,
    "export_failed": 27,
    "request_decided": 28,
}


# The account a command acts as and what it attempts (set by ``actor``): a refused attempt is recorded.
_acting: list[tuple[Principal | str, str]] = []


@contextmanager
def domain_errors() -> Iterator[None]:
    _acting.clear()
    try:
        yield
    except DomainError as exc:
        if _acting and exc.code in REFUSALS:
            who, attempted = _acting[-1]
            store = engine(check_schema=False)
            auditor().refused(store, actor=who, attempted=attempted, source=source(), error=exc, seal=True)
        _exit(exc)


def _exit(exc: DomainError) -> None:
    shown = refusal(exc)
    err.print(f"[bold red]error[/] ({shown.code}): ", highlight=False, end="")
    err.print(shown.message, highlight=False, markup=False)
    if isinstance(exc, InvalidInput):
        for problem in exc.problems[:200]:
            err.print(f"  - {problem}", highlight=False, markup=False)
        if exc.total > 200:
            err.print(f"  … and {exc.total - 200} more", highlight=False)
    raise typer.Exit(EXIT_CODES.get(exc.code, 1)) from None


def write_csv(rows: list[dict[str, Any]]) -> None:
    """Rows as CSV on standard output (the header from the first row)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in rows)
    sys.stdout.write(buf.getvalue())


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()


def tree(rules_dir: Path | None = None) -> ParameterTree:
    return load_parameters(rules_dir or settings().rules_dir)


def engine(check_schema: bool = True) -> Engine:
    eng = make_engine(settings().effective_database_url)
    if check_schema:
        require_current(eng)
    return eng


def now() -> dt.datetime:
    """Transaction time (UTC, naive). ``JAMSOS_CLOCK`` fixes it, for demos and reproducible tests."""
    return values.clock(settings().clock)()


def actor(session: Session, permission: str) -> Principal | str:
    """Who runs this command. With ``JAMSOS_USER`` set, that jamsos account: its role must allow
    ``permission`` and its scope limits lookups. Unset, the operating-system user as operator: shell access
    to the store is full access (anyone with it could use SQL), and the audit log still names them."""
    username = settings().user
    if not username:
        operator = f"os:{getpass.getuser()}"
        _acting.append((operator, permission))
        return operator
    principal = auth.principal(session, username, at=now())
    _acting.append((principal, permission))
    principal.allow(permission)
    return principal


def masked(who: Principal | str, kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record as the acting account may see it (``edge.masking``); the operator sees it whole."""
    return redact(kind, record, who) if isinstance(who, Principal) else record


def scope_of(who: Principal | str) -> Scope:
    return who.scope if isinstance(who, Principal) else EVERYTHING


ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,59}")


def name_of(who: Principal | str, given: str) -> str:
    """Who is recorded with a change: the account acted as, else the --user given, which must be shaped like an
    account name (lower-case ASCII letters, digits, . _ -): four eyes compares the maker and the checker, and a
    look-alike ("ani" in Cyrillic letters, "ani " with a space) would otherwise pass for another person."""
    if isinstance(who, Principal):
        return who.username
    if not ACCOUNT_NAME.fullmatch(given):
        raise InvalidInput([FieldProblem("user", "must be an account name: a-z, 0-9, . _ - (up to 60)", value=given)])
    return given


def audit(
    session: Session,
    who: Principal | str,
    action: str,
    entity: str,
    *,
    key: str | None = None,
    nik: str | None = None,
    **detail: Any,
) -> None:
    """The audit entry of a command that changed something or read personal data: who, when, what, from
    which machine; a person is named by their pseudonym, never the NIK."""
    auditor().last_write(
        session, sealer_running=False, actor=who, action=action, entity=entity, source=source(), key=key, nik=nik,
        **detail,
    )  # fmt: skip


def auditor() -> Auditor:
    return Auditor(settings().secret("pseudonym_key"), audit_key(), now)


def audit_key() -> bytes:
    return settings().secret("audit_key")


def source() -> str:
    return f"cli:{socket.gethostname()}"


period = values.month  # a month typed on the command line (the same reading as the API's and the web's)
day = values.day


# ---- options and output shared by the commands ---------------------------------------------------
User = Annotated[str, typer.Option("--user", "-u", help="Who does this (recorded with the change).")]


Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def print_data(data: Any, as_json: bool = True) -> None:
    """Print a command's result: JSON (non-ASCII kept, dates as text) or Rich's rendering."""
    if as_json:
        out.print_json(json.dumps(data, default=str, ensure_ascii=False))
    else:
        out.print(data)
