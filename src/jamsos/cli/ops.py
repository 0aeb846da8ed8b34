"""The operations commands (database, reference data, registry, declarations, billing, payments, status,
export, serve), registered on the main app; they live in ``cli.store``, ``cli.members`` and ``cli.billing``."""

from __future__ import annotations

import typer

from jamsos.cli.billing import bill_app, pay_app
from jamsos.cli.members import employer_app, member_app, project_app, registry_app, sponsor_app, worker_app
from jamsos.cli.store import active, db_app, reference_app, serve, warehouse_app


def register(app: typer.Typer) -> None:
    for sub, name in (
        (db_app, "db"),
        (reference_app, "reference"),
        (employer_app, "employer"),
        (worker_app, "worker"),
        (member_app, "member"),
        (registry_app, "registry"),
        (bill_app, "bill"),
        (pay_app, "pay"),
        (warehouse_app, "warehouse"),
        (sponsor_app, "sponsor"),
        (project_app, "project"),
    ):
        app.add_typer(sub, name=name)
    app.command("active")(active)
    app.command("serve")(serve)
