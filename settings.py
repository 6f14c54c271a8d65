"""Configuration from environment variables (see the README for every variable).

One `Settings` object is built at start-up and handed to `build_app`; nothing
else reads the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "insecure-development-secret-change-me"
DEFAULT_DATABASE_URL = "sqlite://./var/portal.sqlite3"


class Environment(str, Enum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class TwoFactorRequirement(StrEnum):
    """Who must have proved a second factor in their session (`REQUIRE_TWO_FACTOR`)."""

    OPERATORS = "operators"  # to act with operator permissions
    MANAGEMENT_SESSIONS = "management-sessions"  # partner staff, to open and act in management sessions


class Settings(BaseSettings):
    """Every knob of a deployment, with the defaults of a development box."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str = "http://localhost:8000"
    portal_api_url: str | None = Field(
        default=None,
        description="The GraphQL endpoint the web portal at `/` calls (e.g. `https://api.example.com/graphql`). "
        "Default: its own server's API, in-process.",
    )
    secret_key: str = DEFAULT_SECRET_KEY

    graphiql: bool | None = Field(default=None, description="Default: on in development only.")
    introspection: bool | None = Field(default=None, description="Default: on in development only.")

    session_ttl_hours: int = Field(default=24 * 14, ge=1)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=64)
    login_max_failures: int = Field(default=5, ge=1, description="Failed sign-ins for one address from one client.")
    login_lock_minutes: int = Field(default=15, ge=1)
    login_account_max_failures: int = Field(
        default=20, ge=1, description="Failed sign-ins for one address from all clients before it is locked for all."
    )
    login_account_lock_minutes: int = Field(default=60, ge=1)
    confirm_registrations: bool | None = Field(
        default=None,
        description="`register` mails a link that creates the account, and answers alike for taken "
        "addresses. Default: on in production only.",
    )
    unlock_link_ttl_minutes: int = Field(
        default=60, ge=1, description="How long an unlock link of a locked address works."
    )
    password_reset_ttl_minutes: int = Field(
        default=60, ge=1, le=24 * 60, description="How long a password reset link works."
    )
    sign_in_rate: str = Field(default="10/minute", description="Sign-ins and registrations per client address.")
    sign_in_global_rate: str = Field(default="10/second", description="Sign-ins and registrations of all clients.")
    password_hash_workers: int = Field(
        default=2, ge=1, le=64, description="Threads hashing and verifying passwords; more wait their turn."
    )

    require_two_factor: Annotated[frozenset[TwoFactorRequirement], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated: `operators` act with operator permissions, and partner staff "
        "(`management-sessions`) open and act in management sessions, only in a session that proved a "
        "second factor (two-factor sign-in, or the identity provider's token). Default: neither.",
    )
    two_factor_issuer: str = Field(
        default="Partner Portal", max_length=100, description="The name authenticator apps show for the account."
    )

    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_jwks_file: Path | None = None
    oidc_public_key: str | None = None

    smtp_url: str | None = Field(
        default=None, description="smtp://user:pass@host:587 (STARTTLS) or smtps://…:465; unset: mails are logged."
    )
    mail_from: str = "Partner Portal <partners@localhost>"
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_poll_seconds: float = Field(default=5.0, ge=0, description="0 turns the in-process worker off.")
    webhook_allow_private_networks: bool = Field(
        default=False, description="Let webhooks go to loopback and private addresses (development only)."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60, description="Per webhook attempt.")
    webhook_ca_file: Path | None = Field(
        default=None,
        description="Certificate authorities (PEM) trusted for receivers' https certificates besides "
        "the public ones, e.g. an internal CA.",
    )

    base_currency: str = Field(default="USD", description="Exchange rates are kept against this currency.")
    payout_threshold: str = Field(default="150.00 USD", description="The smallest payout, converted as needed.")
    stripe_webhook_secret: str | None = Field(
        default=None, description="The signing secret (whsec_…) of the Stripe endpoint; unset: /webhooks/stripe is 503."
    )

    affiliate_allowed_hosts: list[str] = Field(
        default_factory=list, description="Hosts affiliate links may land on; empty: the host of PUBLIC_URL."
    )
    affiliate_default_url: str | None = Field(default=None, description="Where unknown links go; default PUBLIC_URL.")
    affiliate_window_days: int = Field(default=90, ge=1, description="How long a click's attribution cookie counts.")
    expert_discount_percent: str = Field(default="10.00", description="The expert program's one-time discount.")
    rate_limit_storage: str = Field(default="memory://", description="The `limits` storage URI (memory or redis).")
    code_lookup_rate: str = Field(
        default="20/minute", description="Code and coupon look-ups, and password reset requests, per client (apart)."
    )

    max_organizations_per_user: int = Field(
        default=50,
        ge=1,
        le=100,
        description="createOrganization is refused to a user in this many organizations (at most 100: "
        "what `User.memberships` lists).",
    )
    organizations_per_hour: int = Field(default=10, ge=1, description="Organizations one user may create per hour.")
    invitation_ttl_days: int = Field(default=14, ge=1)
    mail_invitation_rate: str = Field(
        default="50/hour", description="Invitation mails (customers and members) per sending organization."
    )
    mail_recipient_rate: str = Field(default="5/day", description="Invitation mails to one address, from anyone.")
    mail_password_reset_rate: str = Field(
        default="5/hour", description="Password reset mails to one address; past it a request mails nothing."
    )
    mail_verification_rate: str = Field(
        default="5/hour",
        description="Verification mails an account asks for (resendVerificationEmail, changeEmail), per account "
        "and per address; past it THROTTLED.",
    )
    mail_notice_rate: str = Field(
        default="20/hour", description="Service partner and grant notices an organization's changes may send."
    )
    mail_debounce_minutes: int = Field(
        default=60, ge=1, description="The same notice to the same address is sent once in this many minutes."
    )
    management_session_idle_minutes: int = Field(default=30, ge=1)
    tier_evaluation_day: int = Field(
        default=15, ge=1, le=28, description="From this day of a month on, the tiers job evaluates the month."
    )
    tier_usage_window_days: int = Field(
        default=90, ge=1, description="Feature usage counts for the tier median when reported in these last days."
    )

    max_query_depth: int = Field(default=12, ge=2)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2000, ge=50)
    max_selections: int = Field(default=150, ge=10, description="Fields and fragments in one operation.")
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest POST body to /graphql.")
    max_query_cost: int = Field(default=5000, ge=1, description="Operations costing more are refused.")
    query_budget: int = Field(
        default=50_000, ge=0, description="Cost points per minute per client, refilling continuously; 0: no budget."
    )

    @field_validator("require_two_factor", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment is Environment.PRODUCTION and (
            self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32
        ):
            raise ValueError("SECRET_KEY must be set to a random value of at least 32 characters in production")
        return self

    @model_validator(mode="after")
    def _budget_fits_an_operation(self) -> Settings:
        if self.query_budget and self.query_budget < self.max_query_cost:
            raise ValueError("QUERY_BUDGET must be 0 (off) or at least MAX_QUERY_COST")
        return self

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.DEVELOPMENT

    @property
    def graphiql_enabled(self) -> bool:
        return self.is_development if self.graphiql is None else self.graphiql

    @property
    def introspection_enabled(self) -> bool:
        return self.is_development if self.introspection is None else self.introspection

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(hours=self.session_ttl_hours)

    @property
    def affiliate_hosts(self) -> list[str]:
        return self.affiliate_allowed_hosts or [urlsplit(self.public_url).hostname or "localhost"]

    @property
    def invitation_ttl(self) -> timedelta:
        return timedelta(days=self.invitation_ttl_days)

    @property
    def management_session_idle(self) -> timedelta:
        return timedelta(minutes=self.management_session_idle_minutes)

    @property
    def login_lock(self) -> timedelta:
        return timedelta(minutes=self.login_lock_minutes)

    @property
    def registrations_by_mail(self) -> bool:
        return not self.is_development if self.confirm_registrations is None else self.confirm_registrations

    @property
    def login_account_lock(self) -> timedelta:
        return timedelta(minutes=self.login_account_lock_minutes)

    @property
    def unlock_link_ttl(self) -> timedelta:
        return timedelta(minutes=self.unlock_link_ttl_minutes)

    @property
    def password_reset_ttl(self) -> timedelta:
        return timedelta(minutes=self.password_reset_ttl_minutes)

    @property
    def oidc_enabled(self) -> bool:
        return bool(
            self.oidc_issuer
            and self.oidc_audience
            and (self.oidc_jwks_url or self.oidc_jwks_file or self.oidc_public_key)
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The database file of a `sqlite://path` URL, or None for memory/PostgreSQL."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split("://", 1)[1].split("?", 1)[0]
        return None if path in ("", ":memory:") else Path(path)


class SettingsRefused(ValueError):
    """The environment describes a deployment that may not start: one line per problem."""


def settings_from_environment() -> Settings:
    """The settings from the environment, or SettingsRefused naming each problem without the values
    given (pydantic's own message repeats them, e.g. `SMTP_URL` with its password)."""
    try:
        return Settings()
    except ValidationError as error:
        problems = [
            _problem(detail) for detail in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise SettingsRefused("\n".join(problems)) from None


def _problem(detail: Mapping[str, Any]) -> str:
    message = detail["msg"].removeprefix("Value error, ")
    variable = "_".join(str(part) for part in detail["loc"]).upper()
    return f"{variable}: {message}" if variable else message
