"""`dealwatch sources evaluate CORPUS...`: the source rules against labelled corpora of real
items (regulators' items: those with an `authority`; announcements: the rest), per field right /
partly / review / wrong, and every wrong item shown with why."""

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
    evaluate_announcements,
    evaluate_regulators,
    read_corpus,
)
from dealwatch.sources.names import Resolver

console = Console()
errors = Console(stderr=True)


def evaluate(
    corpora: Annotated[list[Path], typer.Argument(help="JSON Lines: one labelled item a line")],
    registry: Annotated[
        Path, typer.Option(help="Registry CSV the names are matched to (default: the shipped one)")
    ] = SEED_REGISTRY,
) -> None:
    """Grade the rules on labelled corpora. Exit status 1 when any field is wrong."""
    try:
        rows = read_registry(registry)
        companies = [parsed.record for parsed in rows if isinstance(parsed, Accepted)]
        items = [
            item
            for corpus in corpora
            for item in read_corpus(corpus.read_text(encoding="utf-8").splitlines(), str(corpus))
        ]
    except OSError as error:
        errors.print(f"[red]error:[/] cannot read {error.filename}: {error.strerror}")
        raise typer.Exit(1) from error
    except CorpusError as error:
        errors.print(f"[red]error:[/] {escape(str(error))}")
        raise typer.Exit(1) from error
    resolver = Resolver(companies)
    regulators = evaluate_regulators([i for i in items if "authority" in i], resolver)
    announcements = evaluate_announcements([i for i in items if "authority" not in i], resolver)
    wrong = False
    for title, tally in (("regulators' items", regulators), ("announcements", announcements)):
        if tally.items:
            print_tally(f"{title}: {tally.items}", tally)
            wrong = wrong or bool(tally.wrong)
    raise typer.Exit(1 if wrong else 0)


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
