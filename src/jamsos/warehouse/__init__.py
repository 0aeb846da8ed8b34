"""Warehouse: Parquet facts exported from the operational store (and, later, extracts and synthetic data)."""
