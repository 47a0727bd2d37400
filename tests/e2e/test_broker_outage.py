"""A broker cut in the middle of a burst of webhooks: every delivery is processed exactly once,
every process survives, and what the sweeper sends again is only what was lost.

The issue's scenario is 500 webhooks and an 18-second cut. On a two-core machine shared with
other work, 500 runs (each a job process with its supervisor) take well over the ~90 seconds an
end-to-end test may, so this sends 200 (WEBHOOKS, about a minute here), half of them during the
18-second cut (CUT_SECONDS), while the first half's runs are under way; what the sweeper does
does not depend on the count.

The messages are counted as the worker received them, by task id (a message RabbitMQ delivers
again after the cut keeps its id; a message sent again gets a new one), once the queue is empty.
The sweeper's probes (ci.agent.probes) are not work and are not counted as extra tasks.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from kombu import Connection
from sqlalchemy import create_engine, func, select

from ci.store.models import Condition, Delivery, Notification, Run
from tests.e2e.burst import subscribe
from tests.e2e.conftest import RABBITMQ
from tests.e2e.proxy import TcpProxy
from tests.e2e.scenario import NAME, OWNER, push_delivery, send
from tests.waiting import wait_for

WEBHOOKS = 200
CUT_SECONDS = 18.0
SWEEP_AFTER_SECONDS = 10
SETTLE_TIMEOUT = 150.0


LOST = re.compile(r"could not enqueue (axon\.\w+)")
RECEIVED = re.compile(r"Task (axon\.\w+)\[([0-9a-f-]+)\] received")


def published(axon) -> Counter[str]:
    """The tasks that reached the workers, by name, each message once: a message delivered
    again after the cut keeps its id, a message sent again gets a new one."""
    log = (axon.home / "worker.log").read_text(errors="replace")
    return Counter(name for name, _ in set(RECEIVED.findall(log)))


def waiting(queue: str) -> int:
    """Messages in the task queue that no worker has taken."""
    with Connection(RABBITMQ) as connection:
        return int(connection.default_channel.queue_declare(queue, passive=True).message_count)


@pytest.fixture
def broker():
    proxy = TcpProxy(("127.0.0.1", 5672)).up()
    yield proxy
    proxy.down()


# Its own waits are bounded (SETTLE_TIMEOUT and the watch after it); on a busy machine they add
# up to more than the suite's default limit.
@pytest.mark.timeout(SETTLE_TIMEOUT + 120)
def test_a_broker_cut_during_a_burst_of_webhooks_loses_nothing_and_resends_only_what_was_lost(
    production_axon, repo, github, slack, broker
):
    through_proxy = {"AXON_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{broker.port}//"}
    axon = production_axon(
        per_process={"worker": through_proxy, "agent": through_proxy},
        AXON_SWEEP_AFTER_SECONDS=str(SWEEP_AFTER_SECONDS),
    ).start()
    # A bare `python -c 0`: the test is about the messages.
    _, source = subscribe(axon, "0", report={"github": {"context": "axon/train"}, "slack": {}})
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2 * WEBHOOKS)
    slack.expect_message(times=WEBHOOKS)

    engine = create_engine(axon.env["AXON_DATABASE_URL"])
    try:
        answers = burst_with_a_cut(axon, source, repo, broker, engine)
        assert [a.status_code for a in answers] == [202] * WEBHOOKS
        wait_for(
            lambda: settled(engine),
            SETTLE_TIMEOUT,
            0.5,
            lambda: f"every run reported\n{axon.logs()}",
        )
        queue = axon.env["AXON_QUEUE"]
        wait_for(
            lambda: waiting(queue) == 0, 30, 0.5, lambda: f"an empty task queue\n{axon.logs()}"
        )
        before = published(axon)
        # Not a wait for something to happen: three sweeps (AXON_SWEEP_INTERVAL_SECONDS=1)
        # are watched, and must send nothing.
        time.sleep(3.0)
        counts = published(axon)
        with engine.connect() as db:
            deliveries = Counter(db.scalars(select(Delivery.status)))
            runs = db.scalar(select(func.count()).select_from(Run))
            transitions = db.scalar(
                select(func.count()).select_from(Condition).where(Condition.status != "created")
            )
            states = Counter(db.scalars(select(Notification.state)))
    finally:
        engine.dispose()

    # Every delivery answered 202 was processed, once: one run each, each reported once.
    assert deliveries == {"processed": WEBHOOKS}
    assert runs == WEBHOOKS
    assert states == {"sent": 3 * WEBHOOKS}
    reported = sorted(s["state"] for s in github.statuses())
    assert reported == ["pending"] * WEBHOOKS + ["success"] * WEBHOOKS
    assert len(slack.messages()) == WEBHOOKS
    # No process died of the cut.
    assert [name for name, process in axon.processes if process.poll() is not None] == []
    # At most one extra task per message lost in the cut, and nothing sent once all is done.
    lost = len([t for t in LOST.findall(all_logs(axon)) if t != "axon.probe"])
    needed = {
        # As many as the relay's claims: each names the deliveries it claimed, and one the
        # broker refused is published again by the relay, not the sweeper. What the sweeper
        # re-sends goes out as axon.process_delivery, one per delivery: each one extra.
        "axon.process_deliveries": counts["axon.process_deliveries"],
        "axon.start_run": WEBHOOKS,
        "axon.report_run": transitions,  # one per status change
    }
    work = {name: n for name, n in counts.items() if name != "axon.probe"}
    extra = sum(work.values()) - sum(needed.values())
    assert "axon.start_next_in_group" not in work, counts
    assert extra <= lost, f"{extra} extra tasks for {lost} lost messages: {counts} vs {needed}"
    assert lost > 0, "the cut lost no message: it tested nothing"
    assert counts == before, "tasks were sent after every run was done and reported"


def burst_with_a_cut(axon, source, repo, broker, engine) -> list:
    """Send WEBHOOKS pushes; once the first half's runs are under way, the broker goes away
    for CUT_SECONDS while the second half arrives."""

    def push(_: int):
        return send(axon, source, *push_delivery(repo))

    def started() -> bool:
        with engine.connect() as db:
            return bool(db.scalar(select(func.count()).where(Run.status != "created")))

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(push, range(WEBHOOKS // 2)))
        wait_for(started, 30, 0.5, lambda: f"a run under way\n{axon.logs()}")
        broker.down()
        deadline = time.monotonic() + CUT_SECONDS
        answers += pool.map(push, range(WEBHOOKS - WEBHOOKS // 2))
        time.sleep(max(0.0, deadline - time.monotonic()))
        broker.up()
    return answers


def settled(engine) -> bool:
    """Every run succeeded, and every status of every run was reported to every target."""
    with engine.connect() as db:
        done = db.scalar(select(func.count()).where(Run.status == "succeeded"))
        unreported = select(Condition.id).where(
            Condition.run_id == Run.id, Condition.id > Run.report_cursor
        )
        open_reports = db.scalar(select(func.count()).select_from(Run).where(unreported.exists()))
    return done == WEBHOOKS and open_reports == 0


def all_logs(axon) -> str:
    return "\n".join(path.read_text(errors="replace") for path in axon.home.glob("*.log"))
