"""Runtime configuration, read from the environment (and `.env`) with pydantic-settings."""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """Per-user state (the local broker, worker files), the same from every directory:
    `$XDG_STATE_HOME/dealwatch`, else `~/.local/state/dealwatch`."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "dealwatch"


class Settings(BaseSettings):
    """Every knob of dealwatch; the environment variable is the upper-cased field name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None

    dealwatch_topic_prefix: str = ""
    dealwatch_group: str | None = None  # the workers' consumer group; default from the prefix
    dealwatch_partitions: int = Field(default=6, ge=1)
    # replicas of every project topic: default min(3, brokers of the cluster) (topics.py)
    dealwatch_replication_factor: int | None = Field(default=None, ge=1)
    # the worker's static group membership (group.instance.id): a worker killed and restarted
    # under the same id takes its partitions back at once instead of after the session timeout.
    # Default: HOST-N, N the lowest slot free on this host (docs/cluster.md); "off" disables it.
    dealwatch_worker_id: str | None = None
    # a worker that stops heartbeating loses its partitions after this many seconds
    dealwatch_session_timeout: float = Field(default=10.0, ge=6.0, le=300.0)
    dealwatch_home: Path = Field(default_factory=default_home)
    dealwatch_kafka_version: str = "4.4.0"
    dealwatch_kafka_port: int = 9092
    dealwatch_today: dt.date | None = None
    dealwatch_window_days: int = Field(default=365, ge=1)
    dealwatch_projection_interval: float = Field(default=1.0, gt=0)
    # while a backlog is read, the series merge (which rewrites the rows the queued changes
    # move: all of them, in a backlog spread over every day) runs this often, not every batch
    dealwatch_backlog_projection_interval: float = Field(default=30.0, ge=0)

    dealwatch_reevaluate_cron: str = "5 0 * * *"
    dealwatch_digest_cron: str = "0 8 * * mon"
    dealwatch_digest_days: int = Field(default=30, ge=1)
    dealwatch_dispatch_interval: float = Field(default=5.0, gt=0)

    dealwatch_connect_timeout: float = Field(default=300.0, ge=0)

    database_url: str = "sqlite:///dealwatch.db"

    slack_bot_token: SecretStr | None = None
    slack_webhook_url: SecretStr | None = None
    slack_api_url: str | None = None
    slack_default_channel: str = "#dealwatch"
    # The Slack desk (`dealwatch slack`, docs/slack.md): Socket Mode, no inbound HTTP.
    slack_app_token: SecretStr | None = None  # xapp-..., connections:write
    dealwatch_review_channel: str = "#dealwatch-review"
    dealwatch_reviewers: str = ""  # Slack user (U...) or user-group (S...) ids, comma-separated
    dealwatch_slack_sync_interval: float = Field(default=2.0, gt=0)
    dealwatch_rules_file: Path | None = None
    dealwatch_sources_file: Path | None = None

    @property
    def home(self) -> Path:
        """DEALWATCH_HOME as an absolute path, created on first use."""
        home = self.dealwatch_home.expanduser().resolve()
        home.mkdir(parents=True, exist_ok=True)
        return home

    def topic(self, name: str) -> str:
        """The full name of a project topic, with the configured prefix."""
        return f"{self.dealwatch_topic_prefix}{name}"

    def group_id(self) -> str:
        """The workers' consumer group (Faust's app id): `DEALWATCH_GROUP`, else the prefix's."""
        return self.dealwatch_group or f"{self.dealwatch_topic_prefix}dealwatch-worker"

    def today(self) -> dt.date:
        """The evaluation day: `DEALWATCH_TODAY` when pinned, else the UTC calendar day."""
        return self.dealwatch_today or dt.datetime.now(dt.UTC).date()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings`)."""
    return Settings()
