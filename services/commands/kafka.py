"""`dealwatch kafka up|down|status`: the local broker, one node or a cluster of several."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from dealwatch.services.config import get_settings
from dealwatch.services.kafka import local as kafka_local

app = typer.Typer(
    name="kafka",
    help="The local Apache Kafka broker (KRaft, one node or --brokers N, no Docker).",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)


def _fail(error: Exception) -> typer.Exit:
    errors.print(f"[red]error:[/] {error}")
    return typer.Exit(1)


def _print(status: kafka_local.BrokerStatus) -> None:
    table = Table(show_header=False, title=f"Apache Kafka {status.version}")
    foreign = (status.elsewhere or "").startswith("a Kafka broker")
    state = (
        "[green]running, answering"
        if status.answering
        else "[green]answering (a broker this home did not start)"
        if foreign
        else "[yellow]running, not answering"
        if status.running
        else "[red]stopped"
    )
    table.add_row("state", state)
    if status.elsewhere:
        table.add_row("on the port", f"[yellow]{status.elsewhere}")
    table.add_row("bootstrap", status.bootstrap)
    table.add_row("pid", str(status.pid or "-"))
    table.add_row("data", str(status.data_dir))
    table.add_row("log", str(status.log_file))
    if status.open_files:
        held, limit = status.open_files
        near = held > 0.8 * limit
        table.add_row(
            "open files",
            f"{'[yellow]' if near else ''}{held:,} of {limit:,}"
            + (" (one per partition segment: delete topics you no longer need)" if near else ""),
        )
    console.print(table)
    if len(status.nodes) > 1 or any(node.leads for node in status.nodes):
        _print_nodes(status.nodes)


def _print_nodes(nodes: tuple[kafka_local.NodeStatus, ...]) -> None:
    table = Table("node", "port", "pid", "state", "leads", title="nodes")
    for node in nodes:
        state = (
            "[green]answering"
            if node.answering
            else "[yellow]running, not answering"
            if node.pid
            else "[red]stopped"
        )
        table.add_row(
            str(node.node), str(node.port), str(node.pid or "-"), state, "\n".join(node.leads)
        )
    console.print(table)


def _replication_warnings() -> list[str]:
    """Under-replicated dealwatch topics of this prefix, when the cluster answers."""
    import asyncio

    from dealwatch.services.kafka.topics import replication_check

    try:
        return asyncio.run(replication_check(get_settings()))
    except Exception as error:  # status reports; a broker that does not answer is shown above
        return [f"could not check the topics' replicas: {error.__class__.__name__}: {error}"]


@app.command()
def up(
    timeout: float = typer.Option(120.0, help="Seconds to wait for the broker"),
    brokers: int | None = typer.Option(
        None,
        help="Nodes of the local cluster (remembered; 3 for replicated topics); "
        "KAFKA_BOOTSTRAP_SERVERS then lists each node's port",
    ),
) -> None:
    """Assemble the broker from Maven Central (first time), start it, wait until it answers."""
    try:
        with console.status("starting Kafka (the first run downloads the jars)..."):
            status = kafka_local.up(get_settings(), timeout, brokers)
    except kafka_local.KafkaLocalError as error:
        raise _fail(error) from error
    _print(status)
    if len(status.nodes) > 1:
        console.print(f"export KAFKA_BOOTSTRAP_SERVERS={status.bootstrap}")


@app.command()
def down() -> None:
    """Stop the broker; its data stays for the next `up`."""
    try:
        stopped = kafka_local.down(get_settings())
    except OSError as error:
        raise _fail(error) from error
    if stopped:
        console.print("stopped")
        return
    elsewhere = kafka_local.status(get_settings()).elsewhere
    console.print(
        "no broker of this DEALWATCH_HOME was running"
        + (f"; on its port answers {elsewhere}" if elsewhere else "")
    )


@app.command()
def status() -> None:
    """What runs where."""
    current = kafka_local.status(get_settings())
    _print(current)
    if not current.answering and not (current.elsewhere or "").startswith("a Kafka broker"):
        raise typer.Exit(3)
    for warning in _replication_warnings():
        errors.print(f"[yellow]warning:[/] {warning}")
