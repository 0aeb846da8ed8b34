"""Schema migrations of the operational store (Alembic), run by ``jamsos db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from jamsos.kernel.errors import DomainError

MIGRATIONS = Path(__file__).parent.parent / "migrations"  # a floor above the contexts: jamsos/migrations


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


class SchemaOutdated(DomainError):
    code = "schema_outdated"


def require_current(engine: Engine) -> None:
    """The store's schema is the one this code needs; otherwise say which it is and how to bring it up to date
    (a server started on an unmigrated store used to report healthy and fail every second)."""
    try:
        current = current_revision(engine)
    except Exception as exc:  # no server, wrong credentials, not a database
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaOutdated(f"the store at {where} cannot be opened: {type(exc).__name__}: {exc}") from None
    if current != head_revision():
        where = engine.url.render_as_string(hide_password=True)
        state = f"at revision {current}" if current else "not set up"
        raise SchemaOutdated(
            f"the store at {where} is {state}, this jamsos needs {head_revision()}: run `jamsos db upgrade`"
        )
