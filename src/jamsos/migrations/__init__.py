"""Alembic migrations of the operational store: a floor above the contexts, since its environment reads their
tables (the metadata). Run by ``jamsos db upgrade`` through ``infra.migrate``; nothing imports this package."""
