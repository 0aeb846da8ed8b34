"""Connections to the outside: settings (and later the database and compute engines)."""
