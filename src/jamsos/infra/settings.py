"""Settings read once at the edge from the environment (prefix JAMSOS_)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting jamsos reads. ``JAMSOS_RULES_DIR`` points at an edited parameter tree.

    ``JAMSOS_DATABASE_URL`` selects the operational store (``postgresql://user@host/db`` in
    production); without it jamsos uses the SQLite file ``JAMSOS_DATA_DIR/jamsos.db``.
    ``JAMSOS_CLOCK`` (ISO date-time) fixes the transaction clock, for demos and reproducible runs.
    ``JAMSOS_SECRET_KEY`` signs web sessions; ``JAMSOS_PSEUDONYM_KEY`` keys the pseudonyms that stand for NIKs in
    the audit log and the warehouse. Secrets come only from here (environment or ``.env``), never from code.
    ``JAMSOS_WAREHOUSE_DIR`` is the steering warehouse the web pages read; ``JAMSOS_WEB_WARM=0`` skips computing
    its figures at start-up and ``JAMSOS_WEB_CACHE=0`` recomputes them on every request (the benchmark's baseline).
    """

    model_config = SettingsConfigDict(env_prefix="JAMSOS_", extra="ignore")

    rules_dir: Path | None = None
    lang: str = "id"
    data_dir: Path = Path("var")
    database_url: str | None = None
    clock: dt.datetime | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    user: str | None = None  # JAMSOS_USER: the jamsos account the CLI acts as (role and scope apply)
    web_workers: int = 1
    audit_seal_seconds: float = 1.0  # how often the server chains new audit entries (auth.service.seal)
    web_keep_alive_seconds: int = 75
    warehouse_dir: Path | None = None
    export_root: Path | None = None  # where the API may write warehouse exports (default DATA_DIR/warehouse)
    web_warm: bool = True
    web_cache: bool = True
    web_page_cache_bytes: int = 64 * 2**20  # rendered steering pages kept, least recently used out first
    secret_key: SecretStr | None = None
    pseudonym_key: SecretStr | None = None
    audit_key: SecretStr | None = None  # keys the audit chain; kept outside the database
    max_upload_bytes: int = 50 * 2**20  # a request carrying a file (multipart): larger ones answer 413
    max_body_bytes: int = 2**20  # any other request body (JSON, a form)
    isolate_upload_bytes: int = 4 * 2**20  # a larger upload is applied in a low-priority worker process
    requests_per_user: int = 1000  # requests one logged-in user (token or session) may make in 10 s
    requests_per_address: int = 100  # requests anyone not logged in may make from one address in 10 s
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_attempts_per_minute: int = 20
    secure_cookies: bool = False
    trusted_proxies: str = ""  # addresses of reverse proxies whose X-Forwarded-For is believed (comma-separated)
    session_hours: float = 8.0  # a web session's absolute lifetime
    session_idle_minutes: float = 60.0  # a web session ends after this long without a request
    token_days: int = 90  # an API token's lifetime (rotate it before: POST /api/tokens/rotate)
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout: int = 120

    def pool_options(self) -> dict[str, int]:
        """Connection-pool sizes for a server store (PostgreSQL): 20 connections per process (two workers stay
        under the default max_connections); a request waits up to 120 s for one rather than failing. SQLite
        needs none."""
        if self.effective_database_url.startswith("sqlite"):
            return {}
        return {
            "pool_size": self.db_pool_size,
            "max_overflow": self.db_max_overflow,
            "pool_timeout": self.db_pool_timeout,
        }

    def secret(self, name: str) -> bytes:
        """``secret_key``, ``pseudonym_key`` or ``audit_key``. When unset, a random key is made once and kept in
        ``DATA_DIR/keys/NAME`` (readable by its owner only), so sessions survive a restart and a person keeps
        one pseudonym. Where that file cannot be written the key lives for this process only. In production
        set both (from a secret store); a warehouse keyed with one pseudonym key refuses another."""
        value = getattr(self, name)
        if value is None:
            value = SecretStr(_kept_key(self.data_dir / "keys" / name))
            object.__setattr__(self, name, value)
        return bytes(value.get_secret_value(), "utf-8")

    @property
    def exports(self) -> Path:
        return self.export_root or self.data_dir / "warehouse"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'jamsos.db'}"


def _kept_key(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    except OSError:
        return key
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def load_settings() -> Settings:
    return Settings()
