"""One settings object for the whole installation, read from ``SEATSYNC_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_FILE = "seatsync.db"
#: the database ``seatsync demo`` keeps in its folder
DEMO_DATABASE_FILE = "seatsync-demo.db"
#: where the demo's sandboxes listen: a command working on the demo's database may call them
DEMO_SANDBOX_HOSTS = ("127.0.0.0/8", "localhost")


def default_database_url() -> str:
    """A SQLite file in the working directory: the embedded default, ``seatsync.db``; in a folder that has
    only the demo's database, that one (so commands run beside ``seatsync demo`` work on its data)."""
    here = Path.cwd()
    chosen = here / DEFAULT_DATABASE_FILE
    if not chosen.exists() and (here / DEMO_DATABASE_FILE).exists():
        chosen = here / DEMO_DATABASE_FILE
    return f"sqlite:///{chosen}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEATSYNC_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    #: Fernet key (urlsafe base64, 32 bytes) for secrets at rest; when unset a key file is used.
    secret_key: SecretStr | None = None
    #: the key file when ``secret_key`` is unset; default: beside the SQLite database, named after it
    #: (``seatsync.db`` → ``seatsync.key``), created mode 0600 when the first secret is stored
    key_file: Path | None = None
    #: the installation's Gradient vendor API key
    gradient_vendor_key: SecretStr | None = None
    #: the ConnectWise integration's clientId default (each tenant may still give its own)
    connectwise_client_id: str | None = None
    #: requests a minute each tenant may send to ConnectWise
    connectwise_rate_limit: int = 1000
    connectwise_concurrency: int = 8
    #: requests each tenant may send to HaloPSA per rolling window (hosted Halo: 300 per 5 minutes)
    halopsa_rate_limit: int = 300
    halopsa_rate_window: float = 300.0
    #: requests a second the installation may send to Gradient (per vendor key)
    gradient_rate_limit: float = 100.0
    #: "json": structured log lines (with tenant, run and job ids); anything else: plain text
    log_format: str = "text"
    #: where pushes and syncs run: "auto" (procrastinate on PostgreSQL, in-process on SQLite), "inprocess", "procrastinate"
    job_queue: Literal["auto", "inprocess", "procrastinate"] = "auto"
    #: Secure session cookies: always (true), never (false), or when the request came over HTTPS (unset)
    secure_cookies: bool | None = None
    #: the share of the MSP's Autotask hourly request threshold (shared by all its integrations) seatsync may use
    autotask_budget_share: float = Field(default=0.5, gt=0, le=1)
    #: requests in flight at once during a Gradient push (the rate limit still applies to all of them)
    gradient_concurrency: int = 8
    #: where notification mail goes: ``smtp://[user:pass@]host[:port]`` (plain) or ``smtps://...`` (TLS)
    smtp_url: SecretStr | None = None
    #: the From address of notification mail
    mail_from: str = "seatsync@localhost"
    #: seconds before a failed notification is tried again (doubled each time, at most 30 s; 4 tries in all)
    notification_retry_wait: float = 2.0
    #: the address people reach this installation's web app at: links in notifications and tickets
    public_url: str = "http://127.0.0.1:8000"
    #: addresses connectors may call besides each system's public API hosts (comma-separated: ``host``,
    #: ``host:port`` or a CIDR such as ``10.0.0.0/8``): an on-premises ConnectWise, a proxy, the sandboxes
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.replace(" ", ",").split(",") if part]
        return value

    @model_validator(mode="after")
    def _demo_reaches_its_sandboxes(self) -> Settings:
        """The demo's database (``seatsync-demo.db``) is connected to the demo's loopback sandboxes: any command
        working on it may call them, with no setting (``seatsync push connectwise --tenant demo`` in its folder)."""
        database = self.database_url.rsplit("/", 1)[-1]
        if self.database_url.startswith("sqlite") and database == DEMO_DATABASE_FILE:
            self.allowed_hosts = [*self.allowed_hosts, *(h for h in DEMO_SANDBOX_HOSTS if h not in self.allowed_hosts)]
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
