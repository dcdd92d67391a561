"""`dealwatch kafka up` explains what is wrong instead of failing obscurely."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dealwatch.services.config import Settings
from dealwatch.services.kafka import local as kafka_local


def test_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = Settings(dealwatch_home=tmp_path, dealwatch_kafka_port=port)
        with pytest.raises(kafka_local.KafkaLocalError, match=f"port {port} .* is taken"):
            kafka_local.up(settings)
    assert not (tmp_path / "kafka" / "broker.pid").exists()


def test_missing_maven_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALWATCH_KAFKA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # neither mvn nor java here
    with pytest.raises(kafka_local.KafkaLocalError, match=r"`mvn` not found.*install Apache Maven"):
        kafka_local.assemble(Settings(dealwatch_home=tmp_path))


def test_status_of_a_home_without_broker(tmp_path: Path) -> None:
    status = kafka_local.status(Settings(dealwatch_home=tmp_path, dealwatch_kafka_port=1))
    assert not status.running and not status.answering and status.pid is None
    assert kafka_local.down(Settings(dealwatch_home=tmp_path)) is False  # idempotent


def test_status_names_a_broker_started_from_another_home(broker: Settings, tmp_path: Path) -> None:
    """The session's broker answers on the port; a home that did not start it says whose it is."""
    status = kafka_local.status(
        Settings(dealwatch_home=tmp_path, dealwatch_kafka_port=broker.dealwatch_kafka_port)
    )
    assert not status.running
    assert status.elsewhere is not None and status.elsewhere.startswith("a Kafka broker")
    assert "pid " in status.elsewhere
    again = kafka_local.up(
        Settings(dealwatch_home=tmp_path, dealwatch_kafka_port=broker.dealwatch_kafka_port)
    )
    assert again.elsewhere == status.elsewhere  # `up` uses the broker that answers
    assert not (tmp_path / "kafka" / "broker.pid").exists()


def test_status_names_a_process_that_is_not_kafka(tmp_path: Path) -> None:
    import os

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        status = kafka_local.status(Settings(dealwatch_home=tmp_path, dealwatch_kafka_port=port))
    assert status.elsewhere is not None and status.elsewhere.startswith("not Kafka")
    assert f"pid {os.getpid()}" in status.elsewhere


def test_the_brokers_open_files_are_counted_and_its_log_rolls(broker: Settings) -> None:
    """`kafka status` shows the descriptors the broker holds against its limit (raised to the
    hard one at `up`), and log4j writes the rolling broker.log rather than stdout."""
    import resource

    status = kafka_local.status(broker)
    if status.pid is None:
        pytest.skip(
            f"the broker at {broker.kafka_bootstrap_servers} was not started from "
            f"DEALWATCH_HOME={broker.home}; its process is not ours to inspect"
        )
    assert status.open_files is not None
    held, limit = status.open_files
    assert 0 < held < limit
    assert limit == resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert "Kafka Server started" in status.log_file.read_text(errors="replace")
    jvm_output = status.log_file.with_name("broker.out")
    assert "Kafka Server started" not in jvm_output.read_text(errors="replace")


def test_open_files_of_this_process() -> None:
    import os
    import resource

    held, limit = kafka_local.open_files(os.getpid())
    assert held >= 3  # stdin, stdout, stderr at least
    assert limit == resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def test_storage_is_formatted_even_when_a_cluster_id_was_drawn_with_a_leading_dash(
    broker: Settings, tmp_path: Path
) -> None:
    """One random id in 64 starts with "-", which kafka-storage took for an option: a fresh
    home's first `up` failed. Such an id on file is drawn again; new ones never start so."""
    assert not any(kafka_local._kafka_uuid().startswith("-") for _ in range(2000))
    settings = Settings(dealwatch_home=tmp_path, dealwatch_kafka_port=broker.dealwatch_kafka_port)
    paths = kafka_local._paths(settings)
    paths.data.mkdir(parents=True)
    paths.cluster_id.write_text("-MPFBiVvQp6I6_vuQmm1hQ")
    kafka_local._write_config(settings, paths)
    kafka_local._format_once(kafka_local.assemble(settings), paths)
    assert (paths.data / "meta.properties").exists()
    assert not paths.cluster_id.read_text().startswith("-")
