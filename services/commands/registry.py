"""`dealwatch registry list|alias|unalias`: the company registry as the log holds it, and the
other names sources use for a company, changed through the log like every other fact."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dealwatch.events.registry import Company
from dealwatch.services.config import get_settings
from dealwatch.services.ingest.pipeline import put_company
from dealwatch.services.kafka.log_reader import read_registry
from dealwatch.sources.names import Match, Resolver, normalise

app = typer.Typer(
    name="registry", help="The company registry: list it, add or drop aliases.",
    no_args_is_help=True,
)  # fmt: skip
console = Console()
errors = Console(stderr=True)


def _registry() -> dict[str, Company]:
    return asyncio.run(read_registry(get_settings()))


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(1)


@app.command("list")
def list_companies(
    role: Annotated[str | None, typer.Option(help="startup, incumbent or investor")] = None,
) -> None:
    """Every company with its role and the other names sources use for it."""
    table = Table("slug", "name", "role", "country", "aliases", "cik")
    for slug, company in sorted(_registry().items()):
        if role and company.role != role:
            continue
        table.add_row(slug, escape(company.name), company.role, company.country or "",
                      escape("; ".join(company.aliases)), company.cik or "")  # fmt: skip
    console.print(table)


@app.command()
def alias(
    slug: str,
    names: Annotated[list[str], typer.Argument(help="Names sources use for the company")],
) -> None:
    """Add names a source may use for SLUG. A name that already means another company is
    refused (a name must match exactly one entry)."""
    registry = _registry()
    company = registry.get(slug)
    if company is None:
        raise _fail(f"no company {slug!r} in the registry (see `dealwatch registry list`)")
    resolver = Resolver(registry.values())
    added = []
    for name in names:
        if not normalise(name):
            raise _fail(f"{name!r} is no name")
        found = resolver.resolve(name)
        if isinstance(found, Match) and found.slug != slug:
            raise _fail(f"{name!r} already names {found.slug}: it cannot name {slug} too")
        if not isinstance(found, Match) and found.candidates:
            raise _fail(f"{name!r} already names {', '.join(found.candidates)}")
        if isinstance(found, Match):
            console.print(f"{name!r} already names {slug}; left as is")
            continue
        added.append(name)
    if added:
        _write(company.model_copy(update={"aliases": [*company.aliases, *added]}))
        console.print(f"{slug}: added {', '.join(added)}")


@app.command()
def unalias(slug: str, name: str) -> None:
    """Drop an alias of SLUG (the name and the slug themselves cannot be dropped)."""
    company = _registry().get(slug)
    if company is None:
        raise _fail(f"no company {slug!r} in the registry (see `dealwatch registry list`)")
    kept = [a for a in company.aliases if normalise(a) != normalise(name)]
    if len(kept) == len(company.aliases):
        raise _fail(f"{name!r} is not an alias of {slug} (aliases: {company.aliases})")
    _write(company.model_copy(update={"aliases": kept}))
    console.print(f"{slug}: dropped {name}")


def _write(company: Company) -> None:
    origin = f"dealwatch registry by {getpass.getuser()}"
    asyncio.run(put_company(Company.model_validate(company.model_dump()), origin, get_settings()))
