"""Backups of the operational store and their restore.

SQLite: the online backup API (``sqlite3.Connection.backup``), a consistent copy taken page by page while
the app keeps running. PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean``, from the
server's own client programs
(``pg_restore`` to a script, run by ``psql`` in one transaction)."""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jamsos.kernel.errors import DomainError


class BackupFailed(DomainError):
    code = "backup_failed"


@dataclass(frozen=True)
class BackupResult:
    path: str
    bytes: int
    kind: str

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "bytes": self.bytes, "kind": self.kind}


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        return Path(url.removeprefix("sqlite:///"))
    return None


def _libpq(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


def _program(name: str) -> str:
    """A PostgreSQL client program: on the PATH, or the newest of Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:  # prefer the versioned one: it matches the installed server
        return candidates[-1]
    if found:
        return found
    raise BackupFailed(f"{name} is not installed (Debian package postgresql-client)")


def backup(url: str, target: Path) -> BackupResult:
    """Write a backup of the store at ``url`` to ``target`` (replaced only once the copy is complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".backup-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        path = _sqlite_path(url)
        if path is not None:
            if not path.exists():
                raise BackupFailed(f"no SQLite store at {path}")
            with sqlite3.connect(path) as src, sqlite3.connect(tmp) as dst:
                src.backup(dst)
            kind = "sqlite"
        elif url.startswith("postgresql"):
            run = subprocess.run(
                [_program("pg_dump"), "--format=custom", "--file", str(tmp), _libpq(url)],
                capture_output=True,
                text=True,
            )
            if run.returncode != 0:
                raise BackupFailed(f"pg_dump failed: {run.stderr.strip()}")
            kind = "postgresql"
        else:
            raise BackupFailed(f"cannot back up a store at {url!r}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(str(target), target.stat().st_size, kind)


def keep_head(backup_file: Path, head: str) -> Path:
    """The audit chain's head at the backup, kept beside it (``FILE.audit-head``): a restore checks it is on the
    restored chain, and a copy kept elsewhere proves later that no entry was removed since."""
    path = backup_file.with_name(backup_file.name + ".audit-head")
    path.write_text(head + "\n")
    path.chmod(0o600)
    return path


def kept_head(backup_file: Path) -> str | None:
    path = backup_file.with_name(backup_file.name + ".audit-head")
    return path.read_text().strip() if path.exists() else None


def restore(url: str, source: Path) -> None:
    """Replace the store at ``url`` with the backup ``source`` (all its data; nothing else is kept)."""
    if not source.exists():
        raise BackupFailed(f"no backup at {source}")
    path = _sqlite_path(url)
    if path is not None:
        try:
            with sqlite3.connect(source) as check:
                intact = check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                tables = check.execute("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'").fetchone()[
                    0
                ]
        except sqlite3.DatabaseError:
            intact, tables = False, 0
        if not intact or not tables:
            raise BackupFailed(f"{source} is not an intact backup of a jamsos store")
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
        return
    if url.startswith("postgresql"):
        _restore_postgresql(url, source)
        return
    raise BackupFailed(f"cannot restore a store at {url!r}")


def _restore_postgresql(url: str, source: Path) -> None:
    """The backup as one SQL script (``pg_restore --file -``) run by ``psql`` in one transaction, after emptying
    the schema in that same transaction: the store is replaced whole or left as it was. (``pg_restore --clean``
    drops objects one by one and cannot drop a partition's inherited constraints, so it failed over any store
    with an approved billing run, whose lines are partitions of ``bill_line``.)"""
    script = subprocess.run(
        [_program("pg_restore"), "--no-owner", "--no-privileges", "--file", "-", str(source)],
        capture_output=True,
    )
    if script.returncode != 0:
        raise BackupFailed(f"{source} is not a backup pg_restore can read: {script.stderr.decode().strip()}")
    prelude = b"DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
    run = subprocess.run(
        [_program("psql"), "--no-psqlrc", "--quiet", "--single-transaction", "--set", "ON_ERROR_STOP=1",
         "--dbname", _libpq(url), "--file", "-"],
        input=prelude + script.stdout,
        capture_output=True,
    )  # fmt: skip
    if run.returncode != 0:
        raise BackupFailed(f"the restore failed and the store was left as it was: {run.stderr.decode().strip()}")
