"""Alembic environment: migrations run on the engine the caller hands in, SQLite or PostgreSQL."""

from alembic import context
from sqlalchemy import create_engine

from ci.store import models  # noqa: F401  (registers the tables on Base.metadata)
from ci.store.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection: object) -> None:
    # batch mode lets ALTER TABLE work on SQLite, which cannot alter most constraints in place.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
