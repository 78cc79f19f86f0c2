"""Settings from the environment, and DATABASE_URL normalisation to the psycopg 3 driver."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import (
    DEFAULT_ASSET_DECIMALS,
    WORKER_QUEUES,
    Settings,
    get_settings,
    normalise_database_url,
)

TAIL = "app_user:s3cr%40t@db.internal:6543/fusion_prod?sslmode=require&connect_timeout=5"
WANT = "postgresql+psycopg://" + TAIL


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Tests see only the variables they set, whatever the developer's shell exports."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("scheme", [
    "postgres://", "postgresql://", "postgresql+asyncpg://", "postgresql+psycopg2://",
    "postgresql+psycopg://", "postgresql+pg8000://",
])
def test_normalise_database_url(scheme: str) -> None:
    assert normalise_database_url(scheme + TAIL) == WANT


@pytest.mark.parametrize(("url", "want"), [
    ("postgres://localhost/fusion", "postgresql+psycopg://localhost/fusion"),
    ("  postgresql://u@h:5432/d\n", "postgresql+psycopg://u@h:5432/d"),
    ("postgresql+asyncpg://u:p@[::1]:5432/d", "postgresql+psycopg://u:p@[::1]:5432/d"),
    ("postgresql:///fusion?host=/var/run/postgresql",
     "postgresql+psycopg:///fusion?host=/var/run/postgresql"),
])
def test_normalise_keeps_every_other_part(url: str, want: str) -> None:
    assert normalise_database_url(url) == want


def test_normalise_is_idempotent() -> None:
    assert normalise_database_url(normalise_database_url("postgres://" + TAIL)) == WANT


@pytest.mark.parametrize("url", [
    "mysql://u:p@h/d", "sqlite:///fusion.db", "redis://127.0.0.1:6379/0", "", "fusion",
    "http://postgres/fusion",
])
def test_normalise_refuses_other_databases(url: str) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL must be a PostgreSQL URL") as info:
        normalise_database_url(url)
    if url.startswith("mysql"):
        assert "'mysql'" in str(info.value)


def test_password_is_not_in_the_refusal() -> None:
    with pytest.raises(ValueError, match="mysql") as info:
        normalise_database_url("mysql://root:hunter2@db/x")
    assert "hunter2" not in str(info.value)


def test_settings_normalise_database_url_from_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "postgresql+asyncpg://" + TAIL)
    assert Settings().database_url == WANT


def test_settings_refuse_a_non_postgres_database(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "mysql://u:p@h/d")
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings()


def test_env_names_are_case_insensitive(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("database_url", "postgres://h/d")
    assert Settings().database_url == "postgresql+psycopg://h/d"


def test_defaults() -> None:
    settings = Settings()
    assert settings.fusion_api_port == 8000
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.asset_decimals == DEFAULT_ASSET_DECIMALS
    assert settings.escrow_refund_grace_seconds == 30 * 24 * 3600  # DOMAIN.md §2: 30 days
    assert settings.fusion_env == "development"


def test_default_asset_table_is_not_shared_between_instances() -> None:
    first = Settings()
    first.asset_decimals["XYZ"] = 3
    assert "XYZ" not in Settings().asset_decimals
    assert "XYZ" not in DEFAULT_ASSET_DECIMALS


def test_domain_asset_decimals_defaults() -> None:
    # DOMAIN.md §0: ETH 18, BTC 8, USDC 6, USDT 6.
    assert {k: DEFAULT_ASSET_DECIMALS[k] for k in ("ETH", "BTC", "USDC", "USDT")} == {
        "ETH": 18, "BTC": 8, "USDC": 6, "USDT": 6}


def test_asset_decimals_json_from_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ASSET_DECIMALS", '{"usd": 2, "Eth": 18, "DAI": "18", "JPY": 0}')
    settings = Settings()
    assert settings.asset_decimals == {"USD": 2, "ETH": 18, "DAI": 18, "JPY": 0}
    assert settings.asset_quantum("USD") == Decimal("0.01")
    assert settings.asset_quantum("JPY") == Decimal("1")
    assert settings.asset_quantum("ETH") == Decimal("1E-18")


@pytest.mark.parametrize("raw", [
    '{"USD": 19}', '{"USD": -1}', '{"USD": 2, "ETH": 40}', "not json", '{"USD": "two"}',
    '["USD"]',
])
def test_bad_asset_decimals_are_refused(clean_env: pytest.MonkeyPatch, raw: str) -> None:
    clean_env.setenv("ASSET_DECIMALS", raw)
    with pytest.raises(ValidationError):
        Settings()


def test_asset_decimals_as_a_python_dict() -> None:
    assert Settings(asset_decimals={"btc": 8}).asset_decimals == {"BTC": 8}
    with pytest.raises(ValidationError, match=r"decimals must be 0\.\.18"):
        Settings(asset_decimals={"btc": 99})


@pytest.mark.parametrize(("name", "value", "field", "want"), [
    ("FUSION_API_PORT", "9001", "fusion_api_port", 9001),
    ("ESCROW_REFUND_GRACE_SECONDS", "0", "escrow_refund_grace_seconds", 0),
    ("LOG_JSON", "false", "log_json", False),
    ("FUSION_ENV", "production", "fusion_env", "production"),
])
def test_settings_read_from_env(clean_env: pytest.MonkeyPatch, name: str, value: str,
                                field: str, want: object) -> None:
    clean_env.setenv(name, value)
    assert getattr(Settings(), field) == want


@pytest.mark.parametrize(("name", "value"), [
    ("FUSION_API_PORT", "0"), ("FUSION_API_PORT", "70000"), ("FUSION_API_PORT", "http"),
    ("FUSION_ENV", "staging"), ("DATABASE_POOL_SIZE", "0"), ("ESCROW_REFUND_GRACE_SECONDS", "-1"),
])
def test_out_of_range_settings_are_refused(clean_env: pytest.MonkeyPatch, name: str,
                                           value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_api_key_pepper_is_secret(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("API_KEY_PEPPER", "pepper-value")
    settings = Settings()
    assert settings.api_key_pepper.get_secret_value() == "pepper-value"
    assert "pepper-value" not in repr(settings)


def test_get_settings_is_cached_until_cleared(clean_env: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    try:
        clean_env.setenv("FUSION_API_PORT", "8123")
        first = get_settings()
        clean_env.setenv("FUSION_API_PORT", "8124")
        assert get_settings() is first
        get_settings.cache_clear()
        assert get_settings().fusion_api_port == 8124
    finally:
        get_settings.cache_clear()


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("## Settings"):]
    undocumented = []
    for name in Settings.model_fields:
        variable = name.upper()
        # Per-queue settings are documented once, as WORKER_<QUEUE>_..., with QUEUE listed.
        for queue in WORKER_QUEUES:
            variable = variable.replace(f"WORKER_{queue.upper()}_", "WORKER_<QUEUE>_")
        suffix = variable.rsplit("_", 1)[-1]
        if f"`{variable}`" not in table and not (
                variable.startswith("WORKER_<QUEUE>_AUTOSCALE_") and f"`_{suffix}`" in table):
            undocumented.append(variable)
    assert not undocumented, f"settings missing from the README's table: {undocumented}"
