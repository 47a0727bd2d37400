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
