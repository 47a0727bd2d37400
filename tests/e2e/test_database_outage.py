"""PostgreSQL going away for a while loses no accepted delivery and leaves no process dead;
an agent thread that dies anyway ends the agent with a non-zero status."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.e2e import burst
from tests.e2e.harness import ROOT
from tests.e2e.proxy import TcpProxy

CUT_SECONDS = 10.0


def test_a_ten_second_database_cut_mid_burst_loses_no_accepted_delivery_and_no_process(
    production_axon,
):
    # Every process (API, worker, agent) reaches PostgreSQL through a proxy the test cuts.
    database = TcpProxy(("127.0.0.1", 5432)).up()
    axon = production_axon()
    direct = axon.env["AXON_DATABASE_URL"]
    axon.env["AXON_DATABASE_URL"] = direct.replace(":5432/", f":{database.port}/")
    axon.start()
    project, source = burst.subscribe(axon)

    def cut() -> None:
        database.down()
        time.sleep(CUT_SECONDS)
        database.up()

    try:
        accepted = burst.send_all(axon, source, burst.pushes(150), during=cut, timeout=90)
        # Refused during the cut, the senders' retries were accepted once it was back.
        assert len(accepted) == 150

        burst.processed_once(axon, project, accepted, timeout=90)
    finally:
        database.down()
    agent_log = (axon.home / "agent.log").read_text()
    assert "relaying deliveries failed; trying again" in agent_log


def test_an_agent_whose_relay_thread_dies_exits_with_a_non_zero_status(production_axon):
    axon = production_axon()
    # A bug in the relay, injected into an otherwise ordinary `axon agent`.
    agent = (
        "from ci.agent import outbox\n"
        "def broken(rt, stop):\n"
        "    raise RuntimeError('a bug in the relay')\n"
        "outbox.run_forever = broken\n"
        "from ci.cli.commands import main\n"
        "main(['agent'])\n"
    )

    ended = subprocess.run(
        [sys.executable, "-c", agent],
        env=axon.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert ended.returncode == 1, ended.stderr
    assert "thread axon-relay died" in ended.stderr
    assert "RuntimeError: a bug in the relay" in ended.stderr
