"""Commands for the store and the server: database upgrade, backup and restore, reference data, the warehouse
export, active counts and `jamsos serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from jamsos.auth import service as auth
from jamsos.cli.common import (
    actor,
    audit,
    audit_key,
    day,
    domain_errors,
    engine,
    now,
    out,
    period,
    print_data,
    settings,
    tree,
)
from jamsos.infra import backup
from jamsos.infra.db import unit_of_work
from jamsos.infra.migrate import current_revision, upgrade
from jamsos.infra.settings import Settings
from jamsos.ledger import service as ledger
from jamsos.registry import reference as ref
from jamsos.warehouse import export as warehouse

db_app = typer.Typer(
    help="The operational store (SQLite by default, PostgreSQL via JAMSOS_DATABASE_URL).", no_args_is_help=True
)


reference_app = typer.Typer(help="Regions, Kanwil, branch offices and minimum wages.", no_args_is_help=True)


warehouse_app = typer.Typer(help="Export facts to the Parquet warehouse.", no_args_is_help=True)


# ---- db and reference ------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest revision."""
    with domain_errors():
        eng = engine(check_schema=False)
        upgrade(eng)
        out.print(f"schema at revision {current_revision(eng)} ({eng.url.render_as_string(hide_password=True)})")


@db_app.command("backup")
def db_backup(file: Annotated[Path, typer.Argument(help="Where to write the backup.")]) -> None:
    """Back up the store while it runs: SQLite's online backup, or pg_dump (custom format)."""
    with domain_errors():
        with unit_of_work(engine()) as s:
            actor(s, "backup")
        with unit_of_work(engine()) as s:  # the head the backup holds: every entry sealed first
            while auth.seal(s, secret=audit_key()):
                pass
        with unit_of_work(engine()) as s:
            head = auth.head(s)
        r = backup.backup(settings().effective_database_url, file)
        kept = backup.keep_head(file, head)
        with unit_of_work(engine()) as s:
            audit(s, actor(s, "backup"), "backup", "store", key=str(r.path), bytes=r.bytes, head=head)
    out.print(f"backup written: {r.path} ({r.bytes:,} bytes, {r.kind})", highlight=False)
    out.print(f"audit head: {head} (kept in {kept}; `jamsos audit verify --expect-head {head}`)", highlight=False)


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup made by jamsos db backup.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the store's data is replaced.")] = False,
    expect_head: Annotated[
        str | None, typer.Option(help="SEQ:HASH printed by the backup (default: the file kept beside it).")
    ] = None,
) -> None:
    """Replace the store with a backup (SQLite backup API, or one pg_restore script in one transaction), then check
    the audit chain against the head the backup printed."""
    if not yes:
        out.print("this replaces every row of the store; add --yes to confirm", highlight=False)
        raise typer.Exit(2)
    with domain_errors():
        url = settings().effective_database_url
        with unit_of_work(engine()) as s:
            actor(s, "backup")
        backup.restore(url, file)
        head = expect_head or backup.kept_head(file)
        with unit_of_work(engine()) as s:
            check = auth.verify(s, secret=audit_key(), expect_head=head)
            audit(s, actor(s, "backup"), "restore", "store", key=str(file), chain_ok=check.ok)
    out.print(f"restored from {file}; audit log: {check.entries} entries, intact: {check.ok}", highlight=False)
    if not check.ok:
        raise typer.Exit(1)


@reference_app.command("load")
def reference_load(
    directory: Annotated[Path | None, typer.Option("--dir", help="Folder with replacement CSV files.")] = None,
) -> None:
    """Load (or replace) reference data: bundled defaults, or the CSV files found in --dir."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "reference")
        counts = ref.load_reference(s, directory)
        audit(s, who, "load_reference", "reference", key=str(directory) if directory else "defaults")
    out.print(", ".join(f"{v} {k}" for k, v in counts.items()))


# ---- status, export, serve -------------------------------------------------------------------
def active(
    month: str,
    cutoff: Annotated[str | None, typer.Option(help="Paid-by date (default: the coverage parameter).")] = None,
    rules_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Active participants in a month: persons, per segment and per program."""
    with domain_errors(), unit_of_work(engine()) as s:
        actor(s, "active_counts")
        counts = ledger.active_counts(
            s,
            period=period(month),
            tree=tree(rules_dir),
            known_at=now(),
            cutoff=day(cutoff, "cutoff") if cutoff else None,
        )
    print_data(counts)


@warehouse_app.command("export")
def warehouse_export(out_dir: Annotated[Path, typer.Option("--out")]) -> None:
    """Write new facts to the Parquet warehouse (incremental)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "export")
        r = warehouse.export(
            s, out=out_dir, tree=tree(), known_at=now(), pseudonym_key=settings().secret("pseudonym_key")
        )
        audit(s, who, "export", "warehouse", key=str(out_dir))
    print_data(r.to_json())


def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    warehouse: Annotated[
        Path | None, typer.Option("--warehouse", "-w", help="The steering warehouse (JAMSOS_WAREHOUSE_DIR).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes (JAMSOS_WEB_WORKERS; one per core is a start).")
    ] = None,
) -> None:
    """Serve the web application: the dashboard and operations screens at /, the REST API at /api
    (OpenAPI docs at /api/docs). Idle connections are kept open JAMSOS_WEB_KEEP_ALIVE_SECONDS (75 s)."""
    import os

    import uvicorn

    if warehouse is not None:
        os.environ["JAMSOS_WAREHOUSE_DIR"] = str(warehouse)
        settings.cache_clear()
    cfg = settings()
    with domain_errors():
        engine()  # a store that is not migrated is refused here, with the command that fixes it
    h, p = host or cfg.host, port or cfg.port
    out.print(f"jamsos on http://{h}:{p}/ (API: http://{h}:{p}/api/docs); Ctrl-C to stop", highlight=False)
    uvicorn.run(
        "jamsos.web.app:app_from_environment",
        factory=True,
        host=h,
        port=p,
        workers=workers or cfg.web_workers,
        **uvicorn_options(cfg),
    )


def uvicorn_options(cfg: Settings) -> dict[str, Any]:
    """How ``jamsos serve`` runs uvicorn: idle connections kept ``web_keep_alive_seconds``; the client address
    taken from X-Forwarded-For only when it comes from a proxy named in ``JAMSOS_TRUSTED_PROXIES`` (uvicorn's
    default trusts loopback, so anyone on the machine could write any address into the audit log and step around
    the login rate limit)."""
    trusted = cfg.trusted_proxies.strip()
    return {
        "timeout_keep_alive": cfg.web_keep_alive_seconds,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or "",
    }
