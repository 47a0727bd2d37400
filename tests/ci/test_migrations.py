"""The migrations build exactly the models' schema, on PostgreSQL and on SQLite, both ways."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from ci.store import migrate
from ci.store.db import Base, make_engine
from tests.conftest import drop_database, fresh_database


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'axon.db'}")
        migrate.upgrade(engine)
        yield engine
        engine.dispose()
        return
    url = fresh_database("axon_migrations")
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop_database(url)


def test_the_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_downgrading_to_nothing_and_upgrading_again_works(engine):
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert {"runs", "deliveries", "conditions"} <= set(inspect(engine).get_table_names())


def test_deliveries_waiting_for_the_relay_move_into_the_outbox_table(engine):
    migrate.downgrade(engine, "0020")
    rows = [
        ("waiting", "received", None),
        ("published", "received", "2026-12-05 10:00:00+00:00"),
        ("done", "processed", "2026-12-05 10:00:00+00:00"),
    ]
    with engine.begin() as connection:
        for key, status, enqueued_at in rows:
            connection.execute(
                text(
                    "INSERT INTO deliveries (provider, dedupe_key, event_name, status, reason, "
                    "headers, body, received_at, enqueued_at) VALUES ('github', :key, '', "
                    ":status, '', '{}', '', '2026-12-05 09:00:00+00:00', :enqueued_at)"
                ),
                {"key": key, "status": status, "enqueued_at": enqueued_at},
            )

    migrate.upgrade(engine)

    with engine.connect() as connection:
        waiting = connection.execute(
            text("SELECT dedupe_key FROM deliveries JOIN delivery_outbox ON delivery_id = id")
        )
        assert waiting.scalars().all() == ["waiting"]
