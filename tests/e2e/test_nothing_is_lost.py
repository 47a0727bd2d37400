"""An event is never dropped because the broker, a worker or a report target was down."""

from __future__ import annotations

import time

from tests.e2e.proxy import TcpProxy
from tests.e2e.scenario import NAME, OWNER, push_delivery, send, subscribe


def test_a_push_received_while_no_worker_runs_is_handled_when_one_starts(
    production_axon, repo, github, slack
):
    axon = production_axon().start(skip=("worker",))
    project, source = subscribe(axon)
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2)
    slack.expect_message()

    assert send(axon, source, *push_delivery(repo)).status_code == 202
    [delivery] = axon.api("GET", "/api/v1/deliveries").json()
    assert delivery["status"] == "received"

    axon.start_process("worker")
    assert axon.wait_for_run(project)["status"] == "succeeded"
    assert [s["state"] for s in github.wait_for_statuses(2, timeout=15)] == ["pending", "success"]


def test_a_push_accepted_while_the_broker_is_down_is_sent_once_it_is_back(
    production_axon, repo, github, slack
):
    # The relay and sweeper (in the agent) reach RabbitMQ through a proxy the test cuts.
    broker = TcpProxy(("127.0.0.1", 5672)).up()
    broker.down()
    relayed = {"AXON_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{broker.port}//"}
    axon = production_axon(per_process={"agent": relayed}, AXON_SWEEP_AFTER_SECONDS="1").start()
    project, source = subscribe(axon)
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2)
    slack.expect_message()

    assert send(axon, source, *push_delivery(repo)).status_code == 202
    time.sleep(2)
    [delivery] = axon.api("GET", "/api/v1/deliveries").json()
    assert delivery["status"] == "received"

    broker.up()
    try:
        assert axon.wait_for_run(project)["status"] == "succeeded"
    finally:
        broker.down()
    agent_log = (axon.home / "agent.log").read_text()
    assert "could not enqueue axon.process_deliveries" in agent_log
    # Refused by the broker, it stayed in the outbox, and the relay published it once it was back.
    [delivery] = axon.api("GET", "/api/v1/deliveries").json()
    assert delivery["status"] == "processed"


def test_a_report_target_that_fails_gets_the_statuses_later_and_in_order(
    production_axon, repo, github, slack
):
    axon = production_axon().start()
    project, source = subscribe(axon)
    github.expect_commit_status(OWNER, NAME, repo["sha"], status=502, times=2)
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2)
    slack.expect_message(status=503, body="service_unavailable")
    slack.expect_message()

    assert send(axon, source, *push_delivery(repo)).status_code == 202

    assert axon.wait_for_run(project)["status"] == "succeeded"
    github.wait_for_statuses(4, timeout=30)
    delivered = [r.json["state"] for r in github.requests if r.status == 201]
    assert delivered == ["pending", "success"]
    slack.wait_for_messages(2, timeout=30)
    github.assert_no_outstanding()
    slack.assert_no_outstanding()
