"""Migration 0010 packs the metric values kept one row each (run_metrics) into chunks: every
series reads back the same, a value without a step after the highest step before it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ci.runs import metrics
from ci.store import migrate
from ci.store.db import make_engine
from tests.conftest import drop_database, fresh_database


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'axon.db'}")
        yield engine
        engine.dispose()
        return
    url = fresh_database("axon_migration_tracking")
    engine = make_engine(url)
    migrate.downgrade(engine, "0009")  # a fresh database comes at the head
    yield engine
    engine.dispose()
    drop_database(url)


def test_kept_metric_values_become_the_same_series_in_chunks(engine):
    migrate.upgrade(engine, "0009")
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO projects (name, description, created_at) VALUES ('p', '', :at)"),
            {"at": at},
        )
        project_id = connection.execute(text("SELECT id FROM projects")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO runs (uuid, project_id, name, kind, status, runner, event, spec, "
                "inputs, outputs, meta, report_cursor, resent_count, report_resent_count, "
                "attempt, created_at, updated_at) VALUES ('a' || :u, :p, 'train', 'job', "
                "'running', 'local', '{}', '{}', '{}', '{}', '{}', 0, 0, 0, 0, :at, :at)"
            ),
            {"u": "0" * 31, "p": project_id, "at": at},
        )
        run_id = connection.execute(text("SELECT id FROM runs")).scalar_one()
        rows = [("loss", 2000, 0.2), ("loss", 0, 0.9), ("loss", None, 0.1), ("acc", 1, 0.5)]
        for name, step, value in rows:
            connection.execute(
                text(
                    "INSERT INTO run_metrics (run_id, name, step, value, at) "
                    "VALUES (:r, :n, :s, :v, :at)"
                ),
                {"r": run_id, "n": name, "s": step, "v": value, "at": at},
            )

    migrate.upgrade(engine)

    with Session(engine) as session:
        assert metrics.series(session, [run_id], "loss") == {
            run_id: [(0, 0.9), (2000, 0.2), (2001, 0.1)]
        }
        assert metrics.series(session, [run_id], "acc") == {run_id: [(1, 0.5)]}
        assert metrics.last_values(session, [run_id], "loss") == {run_id: 0.1}
