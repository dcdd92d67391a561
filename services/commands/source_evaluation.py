"""`dealwatch sources evaluate CORPUS`: the source rules against a labelled corpus of real items,
per field right / partly / review / wrong, and every wrong item shown with why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dealwatch.events.feed import Accepted, read_registry
from dealwatch.services.seed import SEED_REGISTRY
from dealwatch.sources.evaluation import (
    GRADES,
    CorpusError,
    Tally,
    evaluate_regulators,
    read_corpus,
)
from dealwatch.sources.names import Resolver

console = Console()
errors = Console(stderr=True)


def evaluate(
    corpus: Annotated[Path, typer.Argument(help="JSON Lines: one labelled regulator item a line")],
    registry: Annotated[
        Path, typer.Option(help="Registry CSV the names are matched to (default: the shipped one)")
    ] = SEED_REGISTRY,
) -> None:
    """Grade the regulator rules on a labelled corpus. Exit status 1 when any field is wrong."""
    try:
        companies = [
            parsed.record for parsed in read_registry(registry) if isinstance(parsed, Accepted)
        ]
        items = list(read_corpus(corpus.read_text(encoding="utf-8").splitlines(), str(corpus)))
    except OSError as error:
        errors.print(f"[red]error:[/] cannot read {error.filename}: {error.strerror}")
        raise typer.Exit(1) from error
    except CorpusError as error:
        errors.print(f"[red]error:[/] {escape(str(error))}")
        raise typer.Exit(1) from error
    tally = evaluate_regulators(items, Resolver(companies))
    print_tally(f"{corpus.name}: {tally.items} items", tally)
    raise typer.Exit(1 if tally.wrong else 0)


def print_tally(title: str, tally: Tally) -> None:
    table = Table("field", *GRADES, title=title)
    for name, counts in tally.counts.items():
        table.add_row(name, *(str(counts.get(grade, 0)) for grade in GRADES))
    console.print(table)
    for graded in tally.wrong:
        console.print(
            f"[red]wrong[/] {escape(graded.url)}: expected {escape(str(graded.expected))}, "
            f"found {escape(str(graded.found))}"
        )


def register(sources_app: typer.Typer) -> None:
    sources_app.command()(evaluate)
