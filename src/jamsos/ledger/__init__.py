"""Ledger: wage declarations, billing runs, payments, allocation, fines, arrears and active status."""
