"""Alembic environment: the SQLModel metadata of `services.db.models`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import dealwatch.services.db.models  # registers the tables (with the line below)
import dealwatch.services.db.state_models
import dealwatch.services.sources.models  # noqa: F401  (registers the source tables)
from dealwatch.services.db.engine import make_sync_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_sync_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
