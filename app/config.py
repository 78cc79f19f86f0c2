"""One typed settings object, read from the environment and validated at startup."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, NamedTuple

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_ASSET_DECIMALS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "USDC": 6,
    "USDT": 6,
    "BTC": 8,
    "ETH": 18,
}

# One Celery queue per kind of work, each consumed by its own worker group (see celeryconfig.py).
WORKER_QUEUES: tuple[str, ...] = ("settlement", "risk", "compliance", "alerts", "batch")


class WorkerGroup(NamedTuple):
    """How one queue's worker group runs: a fixed pool, or autoscaled between min and max."""

    queue: str
    concurrency: int
    autoscale_min: int
    autoscale_max: int


_DRIVER_ALIASES = (
    "postgres://",
    "postgresql://",
    "postgresql+psycopg2://",
    "postgresql+asyncpg://",
    "postgresql+pg8000://",
    "postgresql+psycopg://",
)


def normalise_database_url(url: str) -> str:
    """Rewrite any common PostgreSQL URL form to the psycopg 3 driver SQLAlchemy expects."""
    url = url.strip()
    for prefix in _DRIVER_ALIASES:
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(
        "DATABASE_URL must be a PostgreSQL URL (postgres://, postgresql://, "
        f"postgresql+asyncpg://, ...); got scheme {url.split(':', 1)[0]!r}"
    )


class Settings(BaseSettings):
    """Every setting of every process; see the README's table for the defaults' rationale."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/fusion"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # A round trip per checkout; off by default because a dropped connection already
    # invalidates the pool and tasks retry OperationalError.
    database_pre_ping: bool = False
    api_key_cache_seconds: float = Field(default=30.0, ge=0)
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    celery_result_backend: str = "redis://127.0.0.1:6379/1"
    # Redis redelivers a reserved-but-unacked message after this many seconds. It must exceed
    # the longest time a message can legitimately stay unacked: the hard time limit plus the
    # longest retry countdown. See celeryconfig.py.
    celery_visibility_timeout: int = Field(default=300, ge=5)
    celery_task_soft_time_limit: int = Field(default=50, ge=1)
    celery_task_time_limit: int = Field(default=60, ge=2)
    # Tasks that scan a whole table (a reconciliation check) get this hard limit instead
    # (soft limit 30 s before it); it counts in the visibility-timeout check like the default.
    celery_long_task_time_limit: int = Field(default=230, ge=2)
    celery_retry_backoff_max: int = Field(default=60, ge=1)
    command_sweep_after_seconds: int = Field(default=60, ge=1)
    command_sweep_interval_seconds: float = Field(default=30.0, gt=0)
    # Under load a settlement task also settles up to this many other single commands waiting
    # in `received`, in its unit of work (0: each command only by its own task). Larger takes
    # amortise more per-task cost but hold their rows and balances longer.
    settlement_take_waiting: int = Field(default=100, ge=0, le=1000)
    # An inbound message the bridge acked whose consumer has not applied it this long after
    # it was sent (its task lost with a broker that did not persist it) is sent again.
    inbox_resend_after_seconds: int = Field(default=60, ge=1)
    # Processed inbox rows are kept this long (Pub/Sub's own retention), then pruned nightly.
    inbox_retention_days: int = Field(default=7, ge=1)
    pubsub_project_id: str = "fusion-prime-local"
    pubsub_emulator_host: str | None = None
    fusion_api_port: int = Field(default=8000, ge=1, le=65535)
    fusion_env: str = Field(default="development", pattern="^(development|test|production)$")
    log_level: str = "INFO"
    log_json: bool = True
    escrow_refund_grace_seconds: int = Field(default=30 * 24 * 3600, ge=0)
    chain_escrow_asset: str = "ETH"
    # Compliance (DOMAIN.md §4)
    kyc_required_for_settlement: bool = True
    pii_encryption_key: SecretStr = SecretStr("")
    # Former PII_ENCRYPTION_KEYs (comma-separated base64): they open what they sealed, until
    # `fusion-prime compliance reseal` has moved every row to the current key.
    pii_previous_keys: SecretStr = SecretStr("")
    sanctions_match_threshold: float = Field(default=0.92, gt=0, le=1)
    sanctions_possible_threshold: float = Field(default=0.85, gt=0, le=1)
    # Risk (DOMAIN.md §3)
    price_max_age_seconds: int = Field(default=300, ge=1)
    risk_batch_chunk_size: int = Field(default=1000, ge=1, le=100_000)
    bridge_max_messages: int = Field(default=200, ge=1)
    bridge_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    bridge_shutdown_seconds: float = Field(default=20.0, gt=0)
    # Each lease extension is at most this long, so the messages a crashed bridge held go back
    # to Pub/Sub within about this time instead of the library's adaptive (up to 10 min) one.
    bridge_lease_extension_seconds: int = Field(default=30, ge=10, le=600)
    bridge_metrics_port: int = Field(default=9464, ge=0, le=65535)
    outbox_metrics_port: int = Field(default=9465, ge=0, le=65535)
    # 127.0.0.1 keeps the endpoints local; containers set 0.0.0.0 so Prometheus can scrape.
    metrics_bind_host: str = "127.0.0.1"
    # The API's /metrics is open (scrapers rarely send keys; it carries no personal data) unless
    # this is set, then it wants `Authorization: Bearer <token>`.
    metrics_token: SecretStr = SecretStr("")
    outbox_batch_size: int = Field(default=200, ge=1, le=5000)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_max_backoff_seconds: float = Field(default=30.0, gt=0)
    asset_decimals: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_ASSET_DECIMALS)
    )
    api_key_pepper: SecretStr = SecretStr("")
    # Alerts (DOMAIN.md §5)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr = SecretStr("")
    alerts_from_address: str = "alerts@fusion-prime.local"
    # Off in production: a webhook URL must not reach our own network (SSRF).
    webhook_allow_private_networks: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Scales the spec's 1, 2, 4, 8, 16 s schedule; tests shrink it to keep exhaustion fast.
    webhook_backoff_base_seconds: float = Field(default=1.0, gt=0)

    # Fleet: one worker group per queue. CONCURRENCY is the pool size a group starts with;
    # AUTOSCALE_MIN/MAX bound Celery's --autoscale (and the Kubernetes replicas' KEDA bounds).
    worker_settlement_concurrency: int = Field(default=2, ge=1, le=256)
    worker_settlement_autoscale_min: int = Field(default=1, ge=0, le=256)
    worker_settlement_autoscale_max: int = Field(default=4, ge=1, le=256)
    worker_risk_concurrency: int = Field(default=1, ge=1, le=256)
    worker_risk_autoscale_min: int = Field(default=1, ge=0, le=256)
    worker_risk_autoscale_max: int = Field(default=2, ge=1, le=256)
    worker_compliance_concurrency: int = Field(default=1, ge=1, le=256)
    worker_compliance_autoscale_min: int = Field(default=1, ge=0, le=256)
    worker_compliance_autoscale_max: int = Field(default=2, ge=1, le=256)
    worker_alerts_concurrency: int = Field(default=1, ge=1, le=256)
    worker_alerts_autoscale_min: int = Field(default=1, ge=0, le=256)
    worker_alerts_autoscale_max: int = Field(default=2, ge=1, le=256)
    worker_batch_concurrency: int = Field(default=1, ge=1, le=256)
    worker_batch_autoscale_min: int = Field(default=1, ge=0, le=256)
    worker_batch_autoscale_max: int = Field(default=2, ge=1, le=256)
    # `fleet status` recommends enough workers to drain each queue within this many seconds.
    fleet_target_drain_seconds: float = Field(default=60.0, gt=0)
    # A task delivered this many times without finishing (it keeps killing its worker) is
    # dead-lettered with the reason instead of being redelivered forever.
    task_max_deliveries: int = Field(default=5, ge=2, le=1000)
    # Flower (the Celery dashboard). An empty password makes `make run` generate one.
    flower_port: int = Field(default=5555, ge=1, le=65535)
    flower_user: str = "admin"
    flower_password: SecretStr = SecretStr("")
    # Operator console (/console). The key signs its session cookie; empty outside production
    # means one derived from DATABASE_URL and API_KEY_PEPPER (shared by every gunicorn worker,
    # not a secret); in production the console refuses sign-in until one is set.
    console_secret_key: SecretStr = SecretStr("")
    console_session_seconds: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    # Unset: Secure cookies in production only (development serves plain http on localhost).
    console_cookie_secure: bool | None = None
    # Margin-health snapshots older than this are pruned nightly; 0 keeps them forever.
    risk_snapshot_retention_days: int = Field(default=90, ge=0)

    @field_validator("database_url")
    @classmethod
    def _normalise_db(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("asset_decimals", mode="before")
    @classmethod
    def _parse_assets(cls, value: Any) -> Any:
        # ASSET_DECIMALS='{"USD": 2, "ETH": 18}' in the environment.
        if isinstance(value, str):
            value = json.loads(value)
        if isinstance(value, dict):
            return {str(k).upper(): int(v) for k, v in value.items()}
        return value

    @field_validator("asset_decimals")
    @classmethod
    def _check_assets(cls, value: dict[str, int]) -> dict[str, int]:
        for symbol, decimals in value.items():
            if not 0 <= decimals <= 18:
                raise ValueError(f"asset {symbol}: decimals must be 0..18, got {decimals}")
        return value

    @model_validator(mode="after")
    def _check_fleet(self) -> Settings:
        for queue in WORKER_QUEUES:
            group = self.worker_group(queue)
            if group.autoscale_min > group.autoscale_max:
                raise ValueError(f"WORKER_{queue.upper()}_AUTOSCALE_MIN ({group.autoscale_min}) "
                                 f"exceeds WORKER_{queue.upper()}_AUTOSCALE_MAX "
                                 f"({group.autoscale_max})")
        return self

    def worker_group(self, queue: str) -> WorkerGroup:
        if queue not in WORKER_QUEUES:
            raise KeyError(f"unknown queue {queue!r}; queues are {', '.join(WORKER_QUEUES)}")
        return WorkerGroup(queue, getattr(self, f"worker_{queue}_concurrency"),
                           getattr(self, f"worker_{queue}_autoscale_min"),
                           getattr(self, f"worker_{queue}_autoscale_max"))

    @property
    def inbox_resend_after(self) -> timedelta:
        return timedelta(seconds=self.inbox_resend_after_seconds)

    def asset_quantum(self, asset: str) -> Decimal:
        return Decimal(1).scaleb(-self.asset_decimals[asset])


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
