"""Settings: every variable of SPEC section 10 (plus a few tunables), from the
environment or a `.env` file, validated once at start.

A bad value stops start-up with one line naming the variable (see
`load_settings`)."""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_WEBHOOK_TOKEN = "local-dev-token"
LANGUAGES = ("vi", "vi-ascii", "en")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """`"21:00-07:00"` -> (21:00, 07:00); empty -> None (no quiet hours)."""
    value = (value or "").strip()
    if not value:
        return None
    parts = value.split("-")
    if len(parts) != 2:
        raise ValueError("expected HH:MM-HH:MM, e.g. 21:00-07:00, or empty for none")
    bounds = []
    for part in parts:
        m = _HHMM.match(part.strip())
        if not m:
            raise ValueError("expected HH:MM-HH:MM, e.g. 21:00-07:00, or empty for none")
        bounds.append(time(int(m.group(1)), int(m.group(2))))
    if bounds[0] == bounds[1]:
        raise ValueError("start and end are equal; leave it empty for no quiet hours")
    return bounds[0], bounds[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- SPEC section 10 ---
    database_url: str = Field("sqlite:///./hen.db", alias="DATABASE_URL")
    webhook_token: str = Field("", alias="WEBHOOK_TOKEN")
    sms_gateway: Literal["console", "memory", "africastalking", "kannel", "medic-gateway"] = Field(
        "console", alias="SMS_GATEWAY"
    )
    at_username: str = Field("sandbox", alias="AT_USERNAME")
    at_api_key: str = Field("", alias="AT_API_KEY")
    at_sender_id: str = Field("", alias="AT_SENDER_ID")
    # Kannel's sendsms interface; delivery reports come back to PUBLIC_BASE_URL
    kannel_sendsms_url: str = Field("http://127.0.0.1:13013/cgi-bin/sendsms", alias="KANNEL_SENDSMS_URL")
    kannel_username: str = Field("", alias="KANNEL_USERNAME")
    kannel_password: str = Field("", alias="KANNEL_PASSWORD")
    kannel_from: str = Field("", alias="KANNEL_FROM")
    public_base_url: str = Field("http://127.0.0.1:8000", alias="PUBLIC_BASE_URL")
    # an Android phone running medic-gateway polls /webhooks/medic-gateway
    medic_gateway_username: str = Field("gateway", alias="MEDIC_GATEWAY_USERNAME")
    medic_gateway_password: str = Field("", alias="MEDIC_GATEWAY_PASSWORD")
    medic_gateway_batch: int = Field(20, alias="MEDIC_GATEWAY_BATCH", ge=1, le=500)
    timezone: str = Field("Asia/Ho_Chi_Minh", alias="TIMEZONE")
    quiet_hours: str = Field("21:00-07:00", alias="QUIET_HOURS")
    send_rate_per_second: float = Field(10.0, alias="SEND_RATE_PER_SECOND", gt=0, le=10_000)
    dispatch_in_process: bool = Field(True, alias="DISPATCH_IN_PROCESS")
    default_language: Literal["vi", "vi-ascii", "en"] = Field("vi-ascii", alias="DEFAULT_LANGUAGE")

    # --- operation ---
    app_env: Literal["local", "test", "production"] = Field("local", alias="APP_ENV")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    default_region: str = Field("VN", alias="DEFAULT_REGION")
    ussd_service_codes: str = Field("", alias="USSD_SERVICE_CODES")  # comma list; empty = any
    sms_shortcodes: str = Field("", alias="SMS_SHORTCODES")  # comma list; empty = any

    # --- database pool (app.db.make_engine) ---
    db_pool_size: int = Field(10, alias="DB_POOL_SIZE", ge=1, le=500)
    db_max_overflow: int = Field(40, alias="DB_MAX_OVERFLOW", ge=0, le=1000)
    db_pool_timeout_seconds: float = Field(2.0, alias="DB_POOL_TIMEOUT_SECONDS", gt=0, le=60)
    db_connect_timeout_seconds: float = Field(5.0, alias="DB_CONNECT_TIMEOUT_SECONDS", ge=1, le=60)

    # --- metrics (GET /metrics) ---
    metrics_token: str = Field("", alias="METRICS_TOKEN")  # Bearer; required when APP_ENV=production
    metrics_cache_seconds: float = Field(15.0, alias="METRICS_CACHE_SECONDS", ge=0, le=600)

    # --- reports ---
    # the population groups a worker may tag a referral with: TAG=label, comma
    # separated; labels are staff-facing (reports), never sent to a client
    population_groups: str = Field("BT=Partner,TCMT=People who inject,DC=Migrant", alias="POPULATION_GROUPS")

    # --- DHIS2 export (app.domain.dhis2, `hen dhis2 push`) ---
    dhis2_mapping: str = Field("", alias="DHIS2_MAPPING")  # mapping file (JSON); empty = export off
    dhis2_url: str = Field("", alias="DHIS2_URL")  # the server's base URL, e.g. https://dhis2.example.org
    dhis2_username: str = Field("", alias="DHIS2_USERNAME")
    dhis2_password: str = Field("", alias="DHIS2_PASSWORD")
    dhis2_timeout_seconds: float = Field(60.0, alias="DHIS2_TIMEOUT_SECONDS", gt=0, le=600)

    # --- rules ---
    auto_reply_limit_per_hour: int = Field(5, alias="AUTO_REPLY_LIMIT_PER_HOUR", ge=1)
    wrong_code_limit_per_hour: int = Field(10, alias="WRONG_CODE_LIMIT_PER_HOUR", ge=1)
    code_expiry_nudge_days: int = Field(3, alias="CODE_EXPIRY_NUDGE_DAYS", ge=0)
    retest_after_days: int = Field(90, alias="RETEST_AFTER_DAYS", ge=1)
    appointment_morning_hour: int = Field(8, alias="APPOINTMENT_MORNING_HOUR", ge=0, le=23)
    appointment_soon_hours: int = Field(3, alias="APPOINTMENT_SOON_HOURS", ge=1, le=24)

    # --- dispatcher ---
    dispatch_interval_seconds: float = Field(2.0, alias="DISPATCH_INTERVAL_SECONDS", gt=0)
    dispatch_batch_size: int = Field(100, alias="DISPATCH_BATCH_SIZE", ge=1)
    dispatch_concurrency: int = Field(16, alias="DISPATCH_CONCURRENCY", ge=1)
    max_send_attempts: int = Field(12, alias="MAX_SEND_ATTEMPTS", ge=1)
    retry_base_seconds: float = Field(30.0, alias="RETRY_BASE_SECONDS", ge=0)
    claim_lease_seconds: int = Field(120, alias="CLAIM_LEASE_SECONDS", ge=5)
    gateway_timeout_seconds: float = Field(15.0, alias="GATEWAY_TIMEOUT_SECONDS", gt=0)

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, v: str) -> str:
        parse_quiet_hours(v)
        return v

    @field_validator("population_groups")
    @classmethod
    def _check_population_groups(cls, v: str) -> str:
        parse_population_groups(v)
        return v

    @field_validator("dhis2_url")
    @classmethod
    def _check_dhis2_url(cls, v: str) -> str:
        if v and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("expected the DHIS2 server's base URL, e.g. https://dhis2.example.org")
        return v.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}, e.g. Asia/Ho_Chi_Minh") from exc
        return v

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, v: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError("expected sqlite:///path or postgresql://user@host/db")
        if v.startswith("postgresql://"):
            v = "postgresql+psycopg://" + v[len("postgresql://") :]
        return v

    @model_validator(mode="after")
    def _check_secrets(self) -> Settings:
        if not self.webhook_token:
            if self.app_env == "production":
                raise ValueError("WEBHOOK_TOKEN: required when APP_ENV=production")
            self.webhook_token = LOCAL_WEBHOOK_TOKEN
        if self.sms_gateway == "africastalking" and not self.at_api_key:
            raise ValueError("AT_API_KEY: required when SMS_GATEWAY=africastalking")
        if self.sms_gateway == "kannel" and not (self.kannel_username and self.kannel_password):
            raise ValueError("KANNEL_USERNAME, KANNEL_PASSWORD: required when SMS_GATEWAY=kannel")
        if self.sms_gateway == "medic-gateway" and not self.medic_gateway_password:
            raise ValueError("MEDIC_GATEWAY_PASSWORD: required when SMS_GATEWAY=medic-gateway")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def quiet_window(self) -> tuple[time, time] | None:
        return parse_quiet_hours(self.quiet_hours)

    @property
    def population_group_labels(self) -> dict[str, str]:
        """{TAG: label} of POPULATION_GROUPS, tags in upper case."""
        return parse_population_groups(self.population_groups)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def parse_population_groups(text: str) -> dict[str, str]:
    """`BT=Partner,DC=Migrant` -> {"BT": "Partner", "DC": "Migrant"}. A tag
    is 1-8 letters or digits; raises ValueError naming a bad entry."""
    groups: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        tag, _, label = entry.partition("=")
        tag = tag.strip().upper()
        if not re.fullmatch(r"[A-Z0-9]{1,8}", tag) or not label.strip():
            raise ValueError(f"expected TAG=label entries (TAG: 1-8 letters or digits), not {entry!r}")
        if tag in groups:
            raise ValueError(f"tag {tag} is listed twice")
        groups[tag] = label.strip()[:60]
    return groups


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = err.get("loc") or ()
    field = str(loc[0]) if loc else ""
    alias = Settings.model_fields[field].alias if field in Settings.model_fields else field
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{alias}: {msg}" if alias else msg


def load_settings(**overrides) -> Settings:
    """Build settings or raise ConfigError with one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"configuration error: {_describe(exc)}") from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
