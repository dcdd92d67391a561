"""`dealwatch sql "SELECT ..."`: ask the projections anything, read-only."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dealwatch.services.config import get_settings
from dealwatch.services.db.readonly import (
    DEFAULT_TIMEOUT,
    QueryResult,
    ReadOnlyQueryError,
    run_readonly,
)

console = Console()
errors = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def print_result(result: QueryResult, fmt: Format, title: str | None = None) -> None:
    """A Rich table for people, CSV or JSON for programs."""
    if fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows([[_plain(v) for v in row] for row in result.rows])
    elif fmt is Format.json:
        sys.stdout.write(
            json.dumps(
                [dict(zip(result.columns, map(_plain, row), strict=True)) for row in result.rows],
                indent=2,
            )
            + "\n"
        )
    else:
        table = Table(*result.columns, title=title)
        for row in result.rows:
            table.add_row(*("" if v is None else str(_plain(v)) for v in row))
        console.print(table)


def sql(
    statement: Annotated[
        str, typer.Argument(help="One SQL statement, e.g. SELECT * FROM watchlist")
    ],
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    database_url: Annotated[str | None, typer.Option(help="Default: DATABASE_URL")] = None,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds before the query is stopped")
    ] = DEFAULT_TIMEOUT,
) -> None:
    """Query the projections (read-only: writes, DDL, ATTACH and PRAGMA writes are refused)."""
    url = database_url or get_settings().database_url
    try:
        result = run_readonly(url, statement, timeout=timeout)
    except ReadOnlyQueryError as error:
        errors.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    print_result(result, format)


def register(app: typer.Typer) -> None:
    app.command()(sql)
