"""The Alembic revisions build exactly the tables the models declare (columns, indexes), on
SQLite and PostgreSQL: a model change without its revision fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import dealwatch.services.db.models  # every table registers with SQLModel.metadata
import dealwatch.services.db.state_models
import dealwatch.services.sources.models  # noqa: F401
from dealwatch.services.db.engine import make_sync_engine
from dealwatch.services.db.schema import upgrade


def test_migrations_match_the_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []
