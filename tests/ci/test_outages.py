"""Long-running loops outlive a database outage; a thread that dies anyway ends its process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from ci.agent import outbox, process, recording
from ci.agent.logs_follow import LogFollowers
from ci.runtime import Runtime
from ci.store.db import Database
from ci.store.models import Delivery
from ci.supervision import Backoff, vital
from runners.base import Observation
from schemas.status import RunStatus
from tests.conftest import drop_database, fresh_database, relayed
from tests.e2e.proxy import TcpProxy
from tests.waiting import wait_for

# Reconnecting after an outage takes a few backoff steps.
OUTAGE_WAIT = 15.0


def store_delivery(db: Database, key: str) -> int:
    """A delivery as intake stores it: committed, with a NOTIFY to the relays."""
    with db.session() as session:
        delivery = Delivery(provider="github", dedupe_key=key, status="received", body=b"{}")
        session.add(delivery)
        session.flush()
        outbox.notify(session)
        return delivery.id


@pytest.fixture
def proxied_db(postgres: str):
    """A fresh database reached directly and through a proxy the test can cut."""
    url = fresh_database("axon_outage")
    proxy = TcpProxy(("127.0.0.1", 5432)).up()
    direct, through = Database(url), Database(url.replace(":5432/", f":{proxy.port}/"))
    yield direct, through, proxy
    proxy.down()
    through.dispose()
    direct.dispose()
    drop_database(url)


def test_the_relay_outlives_a_database_outage_and_listens_again(
    proxied_db, settings, enqueued, monkeypatch, caplog
):
    direct, through, proxy = proxied_db
    # Only a NOTIFY wakes the relay within the test: it must be LISTENing again after the cut.
    monkeypatch.setattr(outbox, "POLL_SECONDS", 120.0)
    stop = threading.Event()
    relay = threading.Thread(
        target=outbox.run_forever, args=(Runtime(settings, through, b"k"), stop)
    )
    relay.start()
    try:
        first = store_delivery(direct, "before")
        wait_for(lambda: first in relayed(enqueued), OUTAGE_WAIT)

        proxy.down()
        during = store_delivery(direct, "during")
        wait_for(lambda: "relaying deliveries failed; trying again" in caplog.text, OUTAGE_WAIT)
        proxy.up()
        # Claimed once the relay LISTENs again: `after` is announced on the new connection.
        wait_for(lambda: during in relayed(enqueued), OUTAGE_WAIT)
        after = store_delivery(direct, "after")

        wait_for(lambda: after in relayed(enqueued), 10)
        assert relay.is_alive()
    finally:
        stop.set()
        with direct.session() as session:
            outbox.notify(session)  # wakes the relay to see `stop`
        relay.join(10)
    assert relayed(enqueued) == [first, during, after]


class OneJobRunner:
    """A runner that sees one job start, run and succeed, again on every new watch."""

    name = "local"

    def observe(self, halt: threading.Event) -> Iterator[Observation]:
        for status in (RunStatus.STARTING, RunStatus.RUNNING, RunStatus.SUCCEEDED):
            yield Observation("job-1", status)
        halt.wait()


def test_the_watch_outlives_failures_to_record_and_records_the_run_after_them(rt, monkeypatch):
    recorded: list[RunStatus] = []
    failures: list[Observation] = []

    def flaky_apply(_rt: Any, _runner: Any, observation: Observation) -> bool:
        if len(failures) < 3:  # the database is away for a while
            failures.append(observation)
            raise OperationalError("UPDATE runs", {}, Exception("server closed the connection"))
        if observation.status in recorded:
            return False
        recorded.append(observation.status)
        return True

    def flaky_record(
        rt: Any, runner: Any, observations: list[Observation], let_go: Any = None
    ) -> list[bool]:
        return [flaky_apply(rt, runner, observation) for observation in observations]

    monkeypatch.setattr(recording, "record", flaky_record)
    monkeypatch.setattr(recording, "reconcile", lambda *_: [])
    watcher = process.Agent(rt)
    watcher.runner = OneJobRunner()  # type: ignore[assignment]
    stop = threading.Event()
    thread = threading.Thread(target=watcher.watch, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: len(recorded) == 3, OUTAGE_WAIT)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(15)
    assert recorded == [RunStatus.STARTING, RunStatus.RUNNING, RunStatus.SUCCEEDED]
    assert len(failures) == 3 and not thread.is_alive()


def test_a_vital_thread_that_raises_ends_the_process_with_status_1(caplog):
    deaths: list[int] = []
    stop = threading.Event()

    def broken() -> None:
        raise RuntimeError("a bug")

    with caplog.at_level(logging.CRITICAL, logger="ci.supervision"):
        vital(broken, name="axon-relay", stop=stop, on_death=deaths.append).join(5)

    assert deaths == [1]
    assert "thread axon-relay died" in caplog.text and "a bug" in caplog.text


def test_a_vital_thread_that_returns_early_ends_the_process_but_not_once_told_to_stop():
    deaths: list[int] = []
    stop = threading.Event()
    vital(lambda: None, name="axon-sweeper", stop=stop, on_death=deaths.append).join(5)
    assert deaths == [1]

    stop.set()
    vital(lambda: None, name="axon-sweeper", stop=stop, on_death=deaths.append).join(5)
    assert deaths == [1]


def test_the_backoff_grows_with_each_failure_in_a_row_up_to_its_bound_and_resets():
    backoff = Backoff(first=0.5, most=5.0)

    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.failures = 10_000  # a days-long outage
    assert backoff.next() == 5.0
    backoff.reset()
    assert backoff.next() == 0.5


class TwoLines:
    """A runner whose job prints two lines and ends."""

    name = "local"

    def __init__(self) -> None:
        self.read = threading.Event()

    def follow_logs(self, external_id: str, stop: threading.Event) -> Iterator[str]:
        yield from ("epoch 1", "epoch 2")
        self.read.set()


def test_followed_log_lines_the_database_refused_are_stored_by_a_later_flush(monkeypatch):
    stored: list[str] = []
    tries: list[int] = []

    def store(_self: LogFollowers, _followed: Any, lines: list[str]) -> None:
        tries.append(len(lines))
        if len(tries) == 1:
            raise OperationalError("UPDATE runs", {}, Exception("server closed the connection"))
        stored.extend(lines)

    monkeypatch.setattr(LogFollowers, "_store", store)
    runner, stop = TwoLines(), threading.Event()
    followers = LogFollowers(None, runner, stop, flush_seconds=3600)  # type: ignore[arg-type]
    try:
        assert followers.follow("job-1")
        assert runner.read.wait(5)  # set after the reader took the last line
        followers.flush()
        followers.flush()
    finally:
        stop.set()
    assert stored == ["epoch 1", "epoch 2"] and tries == [2, 2]
