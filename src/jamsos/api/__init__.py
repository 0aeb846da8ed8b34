"""The REST API (FastAPI): every operations action, with domain errors mapped to HTTP statuses."""
