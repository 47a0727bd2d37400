"""A transaction's BEGIN goes in its first statement's query string, not in a round trip of its own.

psycopg2 opens a transaction by sending BEGIN alone before the first statement: one round trip
more per transaction, and a worker's unit of work is a few statements long. Here the driver
connection runs in autocommit while SQLAlchemy holds a transaction, the first statement is sent
as "BEGIN; <statement>", and the commit or rollback is sent as a statement. A connection
switched to autocommit by its user (`Database.single_statement`, an AUTOCOMMIT isolation level)
is left as it is.
"""

from __future__ import annotations

import weakref
from typing import Any

from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2

# Driver connections in a transaction opened here, and those of them whose BEGIN is not sent
# yet, with what follows it (`opening_with`).
_OPENED: weakref.WeakSet[Any] = weakref.WeakSet()
_WAITING: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


class FirstTripDialect(PGDialect_psycopg2):
    supports_statement_cache = True  # compiles as its parent does

    def do_begin(self, dbapi_connection: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver.autocommit or driver.info.transaction_status != TRANSACTION_STATUS_IDLE:
            return  # its user's own autocommit, or psycopg2's usual BEGIN would follow
        driver.autocommit = True
        _OPENED.add(driver)
        _WAITING[driver] = "BEGIN;"

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        cursor.execute(_opening(cursor, statement, context), parameters)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        cursor.execute(_opening(cursor, statement, context))

    def do_executemany(
        self, cursor: Any, statement: str, parameters: Any, context: Any = None
    ) -> None:
        _begin_alone(cursor)  # execute_batch repeats the statement: a BEGIN in it would too
        super().do_executemany(cursor, statement, parameters, context)

    def do_commit(self, dbapi_connection: Any) -> None:
        if not _end(dbapi_connection.driver_connection, "COMMIT"):
            super().do_commit(dbapi_connection)

    def do_rollback(self, dbapi_connection: Any) -> None:
        if not _end(dbapi_connection.driver_connection, "ROLLBACK"):
            super().do_rollback(dbapi_connection)


def install(engine: Engine) -> None:
    """Make `engine`, a psycopg2 engine, send each transaction's BEGIN with its first statement."""
    if type(engine.dialect) is PGDialect_psycopg2:
        # The engine's own dialect, configured from its URL and options, takes these methods;
        # a dialect of another name would show in the engine's URL.
        engine.dialect.__class__ = FirstTripDialect


def opening_with(conn: Connection, statements: str) -> bool:
    """Send `statements` (a SET LOCAL, say) right after the BEGIN of `conn`'s transaction, in
    its first statement's query string; False if that BEGIN was sent already, or is not ours."""
    driver = conn.connection.driver_connection
    if driver not in _WAITING:
        return False
    _WAITING[driver] = f"BEGIN; {statements}"
    return True


def autocommits(driver: Any) -> bool:
    """Whether `driver` commits each statement by itself: its user's autocommit, not the
    transaction of one opened here."""
    return getattr(driver, "autocommit", False) is True and driver not in _OPENED


def _opening(cursor: Any, statement: str, context: Any) -> str:
    driver = cursor.connection
    if driver not in _WAITING:
        return statement
    if context is not None and getattr(context, "is_server_side", False):
        _begin_alone(cursor)  # a named cursor wraps the statement in a DECLARE
        return statement
    return f"{_WAITING.pop(driver)} {statement}"


def _begin_alone(cursor: Any) -> None:
    driver = cursor.connection
    if driver in _WAITING:
        with driver.cursor() as plain:
            plain.execute(_WAITING.pop(driver))


def _end(driver: Any, command: str) -> bool:
    """End a transaction opened here with `command`; False if it was not opened here."""
    if driver not in _OPENED:
        return False
    _OPENED.discard(driver)
    _WAITING.pop(driver, None)
    try:
        if not driver.closed and driver.info.transaction_status != TRANSACTION_STATUS_IDLE:
            with driver.cursor() as cursor:
                cursor.execute(command)
    finally:
        if not driver.closed:
            driver.autocommit = False
    return True
