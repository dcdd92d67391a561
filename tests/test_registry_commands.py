"""`dealwatch registry`: aliases added and dropped through the log, read back by the sources'
name matching; a name that already means another company is refused."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from dealwatch.services.cli import app
from dealwatch.services.config import Settings, get_settings
from dealwatch.services.ingest.pipeline import ingest_registry
from dealwatch.services.kafka.log_reader import read_registry
from dealwatch.services.seed import SEED_REGISTRY
from dealwatch.sources.names import Match, Resolver


@pytest.fixture
def registry(kafka: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    asyncio.run(ingest_registry(SEED_REGISTRY, kafka))
    for name, value in {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.kafka_bootstrap_servers,
        "DEALWATCH_TOPIC_PREFIX": kafka.dealwatch_topic_prefix,
        "COLUMNS": "300",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield kafka
    get_settings.cache_clear()


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_an_alias_goes_through_the_log_and_names_match_it(registry: Settings) -> None:
    added = _cli("registry", "alias", "inflection", "Inflection Labs", "Pi by Inflection")
    assert added.exit_code == 0, added.output
    companies = asyncio.run(read_registry(registry))
    assert companies["inflection"].aliases == ["Inflection Labs", "Pi by Inflection"]
    assert Resolver(companies.values()).resolve("INFLECTION LABS, Inc.") == Match("inflection")
    listed = _cli("registry", "list", "--role", "startup").output
    assert "Pi by Inflection" in listed and "microsoft" not in listed

    again = _cli("registry", "alias", "inflection", "Inflection")  # its slug, as words
    assert again.exit_code == 0 and "already names inflection" in again.output

    dropped = _cli("registry", "unalias", "inflection", "Pi by Inflection")
    assert dropped.exit_code == 0, dropped.output
    assert asyncio.run(read_registry(registry))["inflection"].aliases == ["Inflection Labs"]


def test_a_name_of_another_company_or_an_unknown_slug_is_refused(registry: Settings) -> None:
    taken = _cli("registry", "alias", "openai", "Google")
    assert taken.exit_code == 1 and "'Google' already names alphabet" in taken.output
    unknown = _cli("registry", "alias", "no-such-co", "Whatever")
    assert unknown.exit_code == 1 and "no company 'no-such-co'" in unknown.output
    missing = _cli("registry", "unalias", "openai", "Chat")
    assert missing.exit_code == 1 and "not an alias of openai" in missing.output
    assert asyncio.run(read_registry(registry))["openai"].aliases == []
