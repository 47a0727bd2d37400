"""The runs list's event stream: the watched runs' statuses now, then only their changes, and
an end once none of them can change any more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ci.dashboard import runs_stream
from tests.dashboard import seed, seed_runs


def messages(text: str) -> list[tuple[str, Any]]:
    """(event name, data) of each event in a stream's text; comments and `retry:` left out."""
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


def statuses(found: list[tuple[str, Any]]) -> list[Any]:
    return [
        [(run["uuid"], run["status"]) for run in data] if name == "runs" else name
        for name, data in found
    ]


def test_the_stream_sends_current_statuses_then_only_changes_and_ends_when_all_are_done(db):
    project_id = seed.project(db, "streamed")
    train = seed.run(db, "streamed", "train", "running")
    test = seed.run(db, "streamed", "test", "queued")
    changes = iter(
        [
            lambda: None,  # a quiet second: nothing is sent but a comment
            lambda: seed_runs.change_status(db, test, "running"),
            lambda: seed_runs.change_status(db, train, "succeeded"),
            lambda: seed_runs.change_status(db, test, "failed"),
        ]
    )

    text = "".join(runs_stream.events(db, project_id, [train, test], lambda _: next(changes)()))

    assert text.startswith("retry: 1000\n\n")
    assert statuses(messages(text)) == [
        [(train, "running"), (test, "queued")],
        [(test, "running")],
        [(train, "succeeded")],
        [(test, "failed")],
        "end",
    ]
    assert ":\n\n" in text


def test_a_finished_run_reports_its_duration_with_its_status(db):
    project_id = seed.project(db, "timed")
    train = seed.run(db, "timed", "train", "running")
    change = iter([lambda: seed_runs.change_status(db, train, "succeeded")])

    found = messages("".join(runs_stream.events(db, project_id, [train], lambda _: next(change)())))

    assert found[-2] == ("runs", [{"uuid": train, "status": "succeeded", "duration": "42.0 s"}])
    assert found[-1] == ("end", {})


def test_the_stream_ends_after_its_time_so_the_browser_reconnects_and_hears_the_state_again(
    db, monkeypatch
):
    project_id = seed.project(db, "bounded")
    train = seed.run(db, "bounded", "train", "running")
    monkeypatch.setattr(runs_stream, "STREAM_SECONDS", 0.0)

    first = messages("".join(runs_stream.events(db, project_id, [train], lambda _: None)))
    again = messages("".join(runs_stream.events(db, project_id, [train], lambda _: None)))

    assert first == again == [("runs", [{"uuid": train, "status": "running", "duration": ""}])]


def test_runs_of_another_project_are_not_streamed(db):
    seed.project(db, "mine")
    other = seed.run(db, "theirs", "secret", "running")

    found = messages(
        "".join(runs_stream.events(db, seed.project(db, "mine"), [other], lambda _: None))
    )

    assert found == [("end", {})]


def test_the_stream_route_answers_an_event_stream(client, db, monkeypatch):
    train = seed.run(db, "routed", "train", "running")
    monkeypatch.setattr(runs_stream, "STREAM_SECONDS", 0.0)

    answer = client.get(f"/projects/routed/runs/stream?ids={train}")

    assert answer.status_code == 200
    assert answer.mimetype == "text/event-stream"
    assert answer.headers["Cache-Control"] == "no-cache"
    assert messages(answer.get_data(as_text=True)) == [
        ("runs", [{"uuid": train, "status": "running", "duration": ""}])
    ]


@pytest.mark.parametrize(
    ("ids", "reason"),
    [
        ("", "ids: expected run uuids separated by commas"),
        ("not-a-uuid", "ids: 'not-a-uuid' is not a run uuid (32 hex digits)"),
        (",".join(f"{n:032x}" for n in range(101)), "ids: at most 100 runs, not 101"),
    ],
)
def test_the_stream_refuses_ids_that_are_not_run_uuids_naming_the_field(client, db, ids, reason):
    seed.project(db, "refusing")

    answer = client.get(f"/projects/refusing/runs/stream?ids={ids}")

    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"] == reason


def test_the_stream_of_a_project_that_does_not_exist_answers_404(client):
    answer = client.get(f"/projects/nowhere/runs/stream?ids={'0' * 32}")

    assert answer.status_code == 404
    assert answer.get_json()["error"]["message"] == "no project named 'nowhere'"
