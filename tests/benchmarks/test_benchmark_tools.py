"""The benchmark's pure parts: reading wrk's report, percentiles and ratios, the baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks import figures, wrk
from tests.benchmarks.paced import Sample
from tests.conftest import fixture_bytes, github_headers

WRK_REPORT = """\
Running 5s test @ http://127.0.0.1:40000/webhooks/github/gh-bench
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.58ms    5.12ms  62.19ms   74.20%
    Req/Sec     1.54k   156.03     1.87k    72.00%
  Latency Distribution
     50%  812.00us
     75%   12.78ms
     90%   16.64ms
     99%    1.05s
  15328 requests in 5.01s, 2.98MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:   3063.66
Transfer/sec:    610.23KB
"""


def test_a_wrk_report_gives_throughput_percentiles_and_errors():
    result = wrk.parse(WRK_REPORT)

    assert (result.requests, result.seconds, result.rps) == (15328, 5.01, 3063.66)
    assert (result.p50_ms, result.p99_ms) == (pytest.approx(0.812), 1050.0)
    assert result.non_2xx == 12
    assert result.socket_errors == {"connect": 0, "read": 2, "write": 0, "timeout": 3}
    assert result.errors == 17


def test_a_clean_wrk_report_has_no_errors():
    clean = "\n".join(
        line for line in WRK_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )

    result = wrk.parse(clean)

    assert (result.non_2xx, result.socket_errors, result.errors) == (0, {}, 0)


def test_a_wrk_report_without_latency_distribution_is_refused():
    without = "\n".join(line for line in WRK_REPORT.splitlines() if "%  " not in line)

    with pytest.raises(ValueError, match="50% latency.*--latency"):
        wrk.parse(without)


@pytest.mark.parametrize(
    "text, ms",
    [("812.00us", 0.812), ("3.21ms", 3.21), ("1.05s", 1050.0), ("2.00m", 120_000.0)],
)
def test_wrk_times_are_read_in_milliseconds(text, ms):
    assert wrk.time_ms(text) == pytest.approx(ms)


def test_a_wrk_time_without_unit_is_refused():
    with pytest.raises(ValueError, match="not a wrk time"):
        wrk.time_ms("3.21")


def test_each_wrk_command_carries_a_new_nonce_for_the_delivery_ids(monkeypatch):
    monkeypatch.setattr(wrk.shutil, "which", lambda name: "/usr/bin/wrk")
    load = wrk.Load(Path("body.json"), "sha256=ab")

    first, second = load.command("http://127.0.0.1:1/x", 5), load.command("http://127.0.0.1:1/x", 5)

    assert first[:7] == ["/usr/bin/wrk", "-t2", "-c32", "-d5s", "--latency", "-s", str(wrk.LUA)]
    assert first[-3:-1] == second[-3:-1] == ["body.json", "sha256=ab"]
    assert first[-1] != second[-1]


def test_without_wrk_the_benchmark_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(wrk.shutil, "which", lambda name: None)

    with pytest.raises(SystemExit, match="apt-get install wrk"):
        wrk.executable()


def test_percentile_is_the_nearest_observed_rank():
    values = list(range(100, 0, -1))  # 1..100, unordered

    assert figures.percentile(values, 50) == 50
    assert figures.percentile(values, 99) == 99
    assert figures.percentile(values, 100) == 100
    assert figures.percentile([7.0], 99) == 7.0


def test_with_sixty_samples_p99_is_the_maximum():
    assert figures.percentile([float(n) for n in range(60)], 99) == 59.0


@pytest.mark.parametrize("values, q", [([], 50), ([1.0], 0), ([1.0], 101)])
def test_a_percentile_of_nothing_or_out_of_range_is_refused(values, q):
    with pytest.raises(ValueError):
        figures.percentile(values, q)


def test_spread_is_median_min_and_max():
    assert figures.spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0}


def test_latency_summary_of_no_samples_says_so():
    assert figures.latency([]) == {"n": 0}
    assert figures.latency([1.0, 2.0, 3.0]) == {
        "n": 3,
        "p50_ms": 2.0,
        "p99_ms": 3.0,
        "max_ms": 3.0,
    }


def test_ratios_are_of_the_medians_and_per_rep():
    axon, bare = [500.0, 400.0, 600.0], [1000.0, 2000.0, 0.0]

    assert figures.ratios(axon, bare) == {"of_medians": 0.5, "per_rep": [0.5, 0.2, None]}


def test_ratios_of_unequal_series_are_refused():
    with pytest.raises(ValueError):
        figures.ratios([1.0], [1.0, 2.0])


def test_a_late_send_counts_against_the_latency_but_not_the_service_time():
    sample = Sample(
        0, due=10.0, sent_at=0.0, answered=10.05, lateness_ms=20.0, status=202, body=b""
    )

    assert sample.latency_ms == pytest.approx(50.0)
    assert sample.service_ms == pytest.approx(30.0)


@pytest.mark.parametrize("secret, status", [("bench-secret", 202), ("wrong", 401)])
def test_the_bare_baseline_checks_the_signature(monkeypatch, secret, status):
    from tests.benchmarks.baselines import bare

    monkeypatch.setenv("BENCH_SECRET", "bench-secret")
    body = fixture_bytes("webhooks/github/push_branch_commits.json")

    answer = bare.test_client().post(
        "/webhooks/github/gh", data=body, headers=github_headers("push", body, secret)
    )

    assert answer.status_code == status


# ---- the pipeline benchmark --------------------------------------------------------------------


def test_the_benchmark_dag_fans_out_from_one_root_and_back_into_one_sink():
    from ci.compile.dag import levels
    from schemas.spec import load_operation
    from tests.benchmarks import pipeline

    doc = pipeline.dag_document(5, ["/bin/true"])
    op = load_operation(doc)

    dag = op.component.run
    assert levels(dag) == [["root"], ["m0001", "m0002", "m0003"], ["sink"]]
    [component] = doc["component"]["run"]["components"]
    assert component["cache"] == {"disable": True}
    assert component["run"]["container"]["command"] == ["/bin/true"]


def test_a_dag_of_fewer_than_three_ops_is_refused():
    from tests.benchmarks import pipeline

    with pytest.raises(ValueError, match="--ops 2: .* at least 3"):
        pipeline.middle_names(2)


def _fan_conditions() -> dict[str, dict[str, float]]:
    """root ends at 11.0; m0001 at 12.0, m0002 at 12.5; times in epoch seconds."""
    return {
        "root": {"created": 9.0, "compiled": 10.004, "queued": 10.005, "succeeded": 11.0},
        "m0001": {"created": 9.0, "compiled": 11.01, "queued": 11.02, "succeeded": 12.0},
        "m0002": {"created": 9.0, "compiled": 11.03, "queued": 11.04, "succeeded": 12.5},
        "sink": {"created": 9.0, "compiled": 12.55, "queued": 12.6, "succeeded": 13.0},
    }


def test_an_op_is_ready_when_its_last_upstream_succeeded_and_the_root_when_the_dag_runs():
    from tests.benchmarks import pipeline

    found = pipeline.overheads_ms(_fan_conditions(), pipeline.upstreams_of(4), dag_running=10.0)

    assert found == pytest.approx({"root": 5.0, "m0001": 20.0, "m0002": 40.0, "sink": 100.0})


def test_an_op_not_queued_or_whose_upstream_never_succeeded_has_no_overhead():
    from tests.benchmarks import pipeline

    conditions = _fan_conditions()
    del conditions["m0002"]["succeeded"]
    del conditions["m0001"]["queued"]

    found = pipeline.overheads_ms(conditions, pipeline.upstreams_of(4), dag_running=10.0)

    assert set(found) == {"root", "m0002"}


def test_a_rep_reports_fan_in_fan_out_per_op_wall_time_and_where_the_time_went():
    from tests.benchmarks import pipeline

    dag = {"running": 10.0, "succeeded": 14.0}
    rep = pipeline.rep_figures(_fan_conditions(), pipeline.upstreams_of(4), dag)

    assert rep["ops"] == 4
    assert rep["fan_in_ms"] == pytest.approx(100.0)
    assert rep["root_ms"] == pytest.approx(5.0)
    assert rep["overhead_ms"]["n"] == 4
    assert rep["overhead_ms"]["median"] == pytest.approx(30.0)
    assert rep["overhead_without_root_ms"]["median"] == pytest.approx(40.0)
    assert rep["wall_s"] == 4.0 and rep["wall_per_op_ms"] == 1000.0
    # From the root's end (11.0) to the last middle op queued (11.04), over two middle ops.
    assert rep["fan_out_per_op_ms"] == pytest.approx(20.0)
    assert rep["per_op_gap_ms"]["n"] == 1 and rep["per_op_gap_ms"]["median"] == pytest.approx(20.0)
    assert rep["sink_stages_ms"]["ready->compiled"] == pytest.approx(50.0)
    assert rep["sink_stages_ms"]["->queued"] == pytest.approx(50.0)


def test_an_op_that_did_not_succeed_or_was_never_queued_and_a_missing_op_are_problems():
    from tests.benchmarks import pipeline

    conditions = _fan_conditions()
    del conditions["sink"]["queued"]
    statuses = {"root": "succeeded", "m0001": "succeeded", "sink": "upstream_failed"}

    found = pipeline.problems_of(2, 4, "failed", statuses, conditions)

    assert found == [
        "rep 2: the dag ended failed",
        "rep 2: 3 ops, expected 4",
        "rep 2: 1 op(s) did not succeed, e.g. ['sink']",
        "rep 2: 1 op(s) have no queued condition",
    ]
    all_good = {name: "succeeded" for name in _fan_conditions()}
    assert pipeline.problems_of(1, 4, "succeeded", all_good, _fan_conditions()) == []


def test_the_summary_sets_axon_per_op_against_the_bare_loop_rep_by_rep():
    from tests.benchmarks import pipeline

    dag = {"running": 10.0, "succeeded": 14.0}
    rep = pipeline.rep_figures(_fan_conditions(), pipeline.upstreams_of(4), dag)
    rep["_per_op_ms"] = [5.0, 20.0, 40.0, 100.0]
    bare = [{"per_op_ms": {"median": 2.0}}, {"per_op_ms": {"median": 4.0}}]

    found = pipeline.summary([rep, rep], bare)

    assert found["ratios"]["overhead_median/bare"] == {"of_medians": 10.0, "per_rep": [15.0, 7.5]}
    assert found["ratios"]["fan_out_per_op/bare"]["per_rep"] == [10.0, 5.0]
    assert found["fan_in_ms"]["p99_over_reps"] == 100.0
    assert found["ready_to_queued_p99_over_all_ops_ms"] == 100.0
    # Middle ops queued at 11.02 and 11.04: one gap of 20 ms per rep.
    assert found["per_op_gap_median_ms"]["median"] == pytest.approx(20.0)
    assert found["ratios"]["per_op_gap_median/bare"]["per_rep"] == [10.0, 5.0]
    assert found["targets"] == {
        "per_op_gap_median_under_10ms": False,
        "fan_in_p99_under_250ms": True,
    }


def test_the_per_op_cost_is_the_gap_between_successive_queued_times_in_time_order():
    from tests.benchmarks import pipeline

    found = pipeline.queued_gaps_ms([10.030, 10.000, 10.004, 10.010])

    assert found == pytest.approx([4.0, 6.0, 20.0])
    assert pipeline.queued_gaps_ms([10.0]) == []


def test_the_fan_in_splits_at_the_moment_the_agent_recorded_the_last_middle_ops_end():
    from tests.benchmarks import pipeline

    # m0002 ended last (12.5), recorded at 12.52; the sink was queued at 12.6.
    recorded = {"m0001": 12.3, "m0002": 12.52}

    found = pipeline.fan_in_split(_fan_conditions(), recorded, ["m0001", "m0002"])

    assert found["fan_in_observed_ms"] == pytest.approx(20.0)
    assert found["fan_in_after_recorded_ms"] == pytest.approx(80.0)
    assert found["end_recorded_lag_ms"]["n"] == 2
    assert found["end_recorded_lag_ms"]["max"] == pytest.approx(300.0)
    assert pipeline.fan_in_split({}, recorded, ["m0001"]) == {}


# ---- the ingest benchmark's settings and targets ------------------------------------------------


def test_the_ingest_benchmark_runs_only_the_parts_asked_for():
    from tests.benchmarks.ingest_options import PARTS, arguments

    assert arguments([]).parts == PARTS
    assert arguments(["--parts", "ingest, first_enqueue"]).parts == ("ingest", "first_enqueue")


def test_an_unknown_part_is_refused_naming_the_known_ones(capsys):
    from tests.benchmarks.ingest_options import arguments

    with pytest.raises(SystemExit):
        arguments(["--parts", "ingest,ingset"])

    assert "unknown ['ingset']; known: ingest, first_enqueue" in capsys.readouterr().err


def test_the_intake_targets_are_judged_on_the_run_and_an_unmeasured_one_says_so():
    from tests.benchmarks.ingest import targets

    report = {
        "ingest": {
            "ratios": {
                "axon/insert_publish": {"rps": {"of_medians": 1.25}, "p99_ms": {"of_medians": 1.6}}
            }
        },
        "first_enqueue": {"answered_to_queued": {"p99_ms": 10.0}},
    }

    assert targets(report) == {
        "rps_at_least_1.2x_insert_publish": True,
        "p99_at_most_1.5x_insert_publish": False,
        "first_after_quiet_queued_within_10ms_p99": True,
        "submitted_p50_under_15ms": None,
        "submitted_p99_under_60ms": None,
    }
