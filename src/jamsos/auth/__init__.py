"""Accounts, roles and scopes, API tokens, and the append-only audit log with its hash chain."""
