"""A transaction on PostgreSQL sends its BEGIN with its first statement (ci.store.first_trip),
and is still one transaction: atomic, isolated, ended by its commit or rollback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci.store.db import Database, make_engine


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    made = make_engine(pg_url)
    with made.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS first_trip (x int PRIMARY KEY)"))
        conn.execute(text("TRUNCATE first_trip"))
    yield made
    with made.begin() as conn:
        conn.execute(text("DROP TABLE first_trip"))
    made.dispose()


def rows(engine: Engine) -> list[int]:
    """What another connection sees committed."""
    with engine.connect() as other:
        return list(other.execute(text("SELECT x FROM first_trip ORDER BY x")).scalars())


def last_query(engine: Engine, pid: int) -> str:
    """The query string the backend `pid` was last sent, as PostgreSQL reports it."""
    with engine.connect() as other:
        found = other.execute(
            text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
        return str(found.scalar())


def driver(session: Session) -> Any:
    return session.connection().connection.driver_connection


def test_the_first_statement_carries_the_begin(engine: Engine) -> None:
    with Session(engine) as session:
        pid = driver(session).info.backend_pid
        session.execute(text("INSERT INTO first_trip VALUES (1)"))
        assert last_query(engine, pid) == "BEGIN; INSERT INTO first_trip VALUES (1)"
        session.execute(text("INSERT INTO first_trip VALUES (2)"))
        assert last_query(engine, pid) == "INSERT INTO first_trip VALUES (2)"
        assert rows(engine) == []  # not committed: another connection sees nothing yet
        session.commit()
        assert last_query(engine, pid) == "COMMIT"
    assert rows(engine) == [1, 2]


def test_a_rollback_undoes_every_statement_of_the_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("INSERT INTO first_trip VALUES (1)"))
        session.execute(text("INSERT INTO first_trip VALUES (2)"))
        session.rollback()
    assert rows(engine) == []


def test_a_failed_statement_leaves_nothing_of_its_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("INSERT INTO first_trip VALUES (1)"))
        with pytest.raises(IntegrityError):
            session.execute(text("INSERT INTO first_trip VALUES (1)"))
        session.rollback()
        session.execute(text("INSERT INTO first_trip VALUES (3)"))
        session.commit()
    assert rows(engine) == [3]


def test_a_connection_goes_back_to_the_pool_as_it_came(engine: Engine) -> None:
    for end in ("commit", "rollback", "close"):
        with Session(engine) as session:
            conn = driver(session)
            session.execute(text("SELECT 1"))
            assert conn.autocommit is True  # the transaction is ours to end
            if end != "close":
                getattr(session, end)()
        assert conn.autocommit is False, end
        assert conn.info.transaction_status == 0, end  # idle: no transaction left open


def test_a_transaction_that_ran_nothing_sends_nothing(engine: Engine) -> None:
    with engine.connect() as conn:
        pid = conn.connection.driver_connection.info.backend_pid
        conn.exec_driver_sql("SELECT 'before'")
        conn.commit()
        conn.begin()
        conn.commit()
        assert last_query(engine, pid) == "COMMIT"  # of the first transaction only
        assert conn.connection.driver_connection.autocommit is False


def test_an_executemany_first_is_still_one_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("INSERT INTO first_trip VALUES (:x)"), [{"x": 1}, {"x": 2}])
        assert rows(engine) == []
        session.rollback()
    with Session(engine) as session:
        session.execute(text("INSERT INTO first_trip VALUES (:x)"), [{"x": 4}, {"x": 5}])
        session.commit()
    assert rows(engine) == [4, 5]


def test_a_savepoint_first_opens_the_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        with session.begin_nested():
            session.execute(text("INSERT INTO first_trip VALUES (1)"))
        nested = session.begin_nested()
        session.execute(text("INSERT INTO first_trip VALUES (2)"))
        nested.rollback()
        assert rows(engine) == []
        session.commit()
    assert rows(engine) == [1]


def test_a_single_statement_still_commits_by_itself(engine: Engine, pg_url: str) -> None:
    db = Database(pg_url, engine=engine)
    with db.single_statement() as conn:
        pid = conn.connection.driver_connection.info.backend_pid
        conn.execute(text("INSERT INTO first_trip VALUES (7)"))
        assert rows(engine) == [7]  # committed before the block ends
        assert last_query(engine, pid) == "INSERT INTO first_trip VALUES (7)"


def test_an_autocommit_isolation_level_is_left_alone(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        pid = conn.connection.driver_connection.info.backend_pid
        conn.execute(text("INSERT INTO first_trip VALUES (8)"))
        assert last_query(engine, pid) == "INSERT INTO first_trip VALUES (8)"
        assert rows(engine) == [8]
