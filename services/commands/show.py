"""`dealwatch show consolidation|watchlist|company`: the projections for people."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dealwatch.services import read_models
from dealwatch.services.config import get_settings
from dealwatch.services.db.readonly import QueryResult, ReadOnlyQueryError

app = typer.Typer(name="show", help="The projections, for people.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
EMPTY = "no projection yet: run `dealwatch demo` or `dealwatch worker`"
STATUS_STYLE = {"critical": "bold red", "watch": "yellow", "ok": "green", "absorbed": "magenta"}
AsOf = Annotated[
    dt.datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="The latest row on or before this day"),
]


def query(statement: str, **params: Any) -> QueryResult:
    """Run a read-only query with `:name` parameters on either database."""
    try:
        return read_models.query(get_settings().database_url, statement, **params)
    except ReadOnlyQueryError as error:
        errors.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error


def _read(view, *args):
    """A read model (services/read_models.py), with the CLI's error handling."""
    try:
        return view(get_settings().database_url, *args)
    except ReadOnlyQueryError as error:
        errors.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error


_billions, _money = read_models.billions, read_models.money


def print_consolidation(as_of: dt.date | None, plot: Path | None) -> None:
    """The index, hhi and absorptions at one day, with the breakdown by incumbent."""
    found = _read(read_models.index_at, as_of)
    if found is None:
        console.print(EMPTY)
        return
    title = f"Consolidation index as of {found.as_of} ({found.window_days}-day window)"
    table = Table(title=title, show_header=False)
    table.add_row("index (incumbent share of capital)", f"{found.idx:.1f}")
    table.add_row("HHI (0-10,000)", f"{found.hhi:,}")
    table.add_row("incumbent capital", _billions(found.incumbent_capital_usd))
    table.add_row("total capital", _billions(found.total_capital_usd))
    table.add_row("startups absorbed by incumbents", str(found.absorptions))
    console.print(table)
    parts = Table("incumbent", "capital", "share of total", title="Breakdown by incumbent")
    for name, capital in found.by_incumbent:
        parts.add_row(name, _billions(capital), read_models.share(found, capital))
    console.print(parts)
    if plot:
        plot_series(plot)


def plot_series(path: Path) -> None:
    """The index and the HHI over time, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = query("SELECT as_of, idx, hhi FROM consolidation ORDER BY as_of").rows
    days = [r[0] if isinstance(r[0], dt.date) else dt.date.fromisoformat(r[0]) for r in rows]
    fig, left = plt.subplots(figsize=(10, 4.5))
    left.step(days, [r[1] for r in rows], where="post", color="tab:blue", label="index")
    left.set_ylabel("consolidation index (0-100)", color="tab:blue")
    left.set_ylim(0, 105)
    right = left.twinx()
    right.step(days, [r[2] for r in rows], where="post", color="tab:red", label="HHI")
    right.set_ylabel("HHI (0-10,000)", color="tab:red")
    right.axhline(1800, color="tab:red", linestyle=":", linewidth=1)
    left.set_title("AI-industry consolidation: incumbent share of capital and concentration")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    console.print(f"series plotted to {path}")


def print_watchlist() -> None:
    rows = _read(read_models.watchlist)
    if not rows:
        console.print(EMPTY)
        return
    table = Table(
        "company",
        "status",
        "monthly burn",
        "cash",
        "runway (months)",
        title=f"Burn watchlist as of {rows[0][5]}",
    )
    for company, status, burn, cash, runway, _ in rows:
        style = STATUS_STYLE.get(status, "")
        table.add_row(
            company,
            f"[{style}]{status}[/]" if style else status,
            _money(burn),
            _money(cash),
            "-" if runway is None else f"{runway:.1f}",
        )
    console.print(table)


@app.command()
def consolidation(
    as_of: AsOf = None,
    plot: Annotated[Path | None, typer.Option(help="Draw the series into this PNG")] = None,
) -> None:
    """The consolidation index, HHI and absorptions, with the breakdown by incumbent."""
    print_consolidation(as_of.date() if as_of else None, plot)


@app.command()
def watchlist() -> None:
    """Companies by burn status (critical and watch first), as of the evaluation day."""
    print_watchlist()


@app.command()
def company(slug: str) -> None:
    """One company: registry facts, deals, events and alerts."""
    facts = _read(read_models.company_facts, slug)
    if not facts.rows:
        errors.print(f"[red]error:[/] no company {slug!r} in the projections")
        raise typer.Exit(1)
    table = Table(show_header=False, title=slug)
    for name, value in zip(facts.columns, facts.rows[0], strict=True):
        money = name.endswith("_usd")
        table.add_row(name, _money(value) if money else "-" if value is None else str(value))
    console.print(table)
    for title, statement in (
        (
            "Deals",
            "SELECT date, kind, record_id, counterparties, amount_usd FROM deals "
            "WHERE company = :slug ORDER BY date, record_id",
        ),
        (
            "Events",
            "SELECT date, reported, kind, record_id, event_id FROM events "
            "WHERE company = :slug ORDER BY date, record_id",
        ),
        (
            "Alerts",
            "SELECT as_of, rule, delivery_state, channel FROM alerts "
            "WHERE subject = :slug ORDER BY as_of, rule",
        ),
    ):
        result = query(statement, slug=slug)
        listing = Table(*result.columns, title=title)
        for row in result.rows:
            listing.add_row(*("-" if v is None else str(v) for v in row))
        console.print(listing)


def register(main: typer.Typer) -> None:
    main.add_typer(app)
