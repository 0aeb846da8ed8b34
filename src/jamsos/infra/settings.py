"""Settings read once at the edge from the environment (prefix JAMSOS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting jamsos reads. ``JAMSOS_RULES_DIR`` points at an edited parameter tree."""

    model_config = SettingsConfigDict(env_prefix="JAMSOS_", extra="ignore")

    rules_dir: Path | None = None
    lang: str = "id"


def load_settings() -> Settings:
    return Settings()
