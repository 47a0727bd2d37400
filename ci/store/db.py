"""The database engine and the session scope every unit of work runs in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from ci.store import first_trip


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back tz-aware values, on SQLite too (it keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; Axon keeps time tz-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


CONNECT_TIMEOUT_SECONDS = 5


class Base(DeclarativeBase):
    pass


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    # No pre-ping: it is a round trip on every checkout, the most of a webhook's. A connection
    # found dead instead fails its statement once, and SQLAlchemy then discards every pooled
    # connection made before it, so one error per outage reaches the callers (a 503, a retried
    # task); ci.intake.receipt tries its single insert once more on a new connection.
    kwargs.setdefault("pool_pre_ping", False)
    if url.startswith("postgresql"):
        # A partition that drops packets would otherwise hold a request for the kernel's TCP
        # timeout (minutes) before the caller can answer 503 and the sender retry.
        connect_args = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            **kwargs.pop("connect_args", {}),
        }
        kwargs["connect_args"] = connect_args
    if url.startswith(("postgresql://", "postgresql+psycopg2://")):
        # An ORM flush that updates many rows alike (a batch of a dag's op starts) sends them
        # in pages of 100 (psycopg2's execute_batch), not one round trip per row. Nothing
        # reads the row count of such an executemany.
        kwargs.setdefault("executemany_mode", "values_plus_batch")
        engine = create_engine(url, **kwargs)
        first_trip.install(engine)
        return engine
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so each can BEGIN IMMEDIATE:
        # a deferred transaction that later writes can fail at once with "database is locked".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """An engine and its session factory, made once per process from the settings."""

    def __init__(self, url: str, engine: Engine | None = None, bind: Any = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self.bind = bind
        # `bind` lets a caller run every session inside one outer transaction (tests).
        options: dict[str, Any] = {"expire_on_commit": False}
        if bind is not None:
            options["join_transaction_mode"] = "create_savepoint"
        self.sessions = sessionmaker(bind=bind or self.engine, **options)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed if the block ends normally, rolled back otherwise."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One unit of work on a Core connection, without a Session: for the hottest loops.
        Committed if the block ends normally, rolled back otherwise."""
        if self.bind is not None:
            with self.bind.begin_nested():
                yield self.bind
        else:
            with self.engine.begin() as conn:
                yield conn

    @contextmanager
    def single_statement(self) -> Iterator[Connection]:
        """A connection for one statement that commits by itself: on PostgreSQL without BEGIN
        and COMMIT, one round trip instead of three. A second statement on it would commit
        apart from the first. Bound to an outer transaction (tests), or on SQLite, it is an
        ordinary unit of work."""
        if self.bind is not None or self.engine.dialect.name != "postgresql":
            with self.transaction() as conn:
                yield conn
        else:
            with self.engine.connect() as conn:
                # psycopg2's own switch, not SQLAlchemy's isolation level: that one sends a SET
                # when the connection goes back to the pool, a round trip of its own.
                driver: Any = conn.connection.driver_connection
                driver.autocommit = True
                try:
                    yield conn
                    conn.commit()  # nothing to send: the statement committed itself
                finally:
                    if not driver.closed:  # a dropped connection is discarded, not reused
                        driver.autocommit = False

    @contextmanager
    def transaction_in_one_trip(self, prefix: str = "") -> Iterator[Connection]:
        """`transaction()`, whose `prefix` (statements such as a SET LOCAL) goes in its first
        statement's query string, after its BEGIN (ci.store.first_trip): on PostgreSQL the
        first result comes back after one round trip. For the hottest short transactions.
        Inside an outer transaction (tests), whose BEGIN went before, `prefix` runs first, on
        its own; SQLite has none to run."""
        with self.transaction() as conn:
            if prefix and conn.dialect.name == "postgresql":
                if not first_trip.opening_with(conn, prefix):
                    conn.exec_driver_sql(prefix)
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def without_waiting_for_disk(session: Session) -> None:
    """Let this transaction's commit return before PostgreSQL has flushed it to disk.

    For bookkeeping whose loss in a database crash costs nothing but a re-send by the sweeper
    (a report or an advance asked for, a cursor moved past statuses nobody hears): each status
    of each op writes one, and waiting for the disk every time doubles what a start costs.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def after_commit(session: Session, callback: Any) -> None:
    """Call `callback()` once `session` commits; forget it if the session rolls back."""
    session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop("after_commit", []):
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, _previous: Any) -> None:
    session.info.pop("after_commit", None)
