"""What the runs list answers for addresses that ask for something it cannot show: the page
with the reason, 400, never a server error."""

from __future__ import annotations

import html

import pytest

from tests.dashboard import seed


@pytest.mark.parametrize(
    ("asked", "reason"),
    [
        ("sort=colour", "query term 'colour': cannot sort by 'colour'; sortable:"),
        ("sort=metrics.", "query term 'metrics.': metrics names a value: metrics.<name>"),
        ("offset=-5", "offset: expected a whole number from 0 to 999999999, not '-5'"),
        ("offset=1e3", "offset: expected a whole number from 0 to 999999999, not '1e3'"),
        ("limit=0", "limit: expected a whole number from 1 to 500, not '0'"),
        ("query=metrics.loss:<abc", "query term 'metrics.loss:<abc': expected a number, not 'abc'"),
        ("query=created_at:yesterday", "expected a date (2026-01-31) or time, not 'yesterday'"),
        ("query=status:done-ish", "query term 'status:done-ish': no status 'done-ish'"),
    ],
)
def test_a_page_that_cannot_be_shown_answers_400_with_the_reason(client, db, asked, reason):
    seed.run(db, "answering", "train")

    answer = client.get(f"/projects/answering/runs?{asked}")

    assert answer.status_code == 400
    assert reason in html.unescape(answer.get_data(as_text=True))


def test_an_offset_past_the_last_run_shows_none_and_the_way_back(client, db):
    seed.run(db, "far", "train")

    answer = client.get("/projects/far/runs?offset=900")

    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert '<p class="muted" id="count">1 run</p>' in page
    assert 'No runs this far: <a href="/projects/far/runs">back to the first page</a>' in page
    assert 'rel="prev" href="/projects/far/runs?offset=850"' in page


def test_a_page_of_only_finished_runs_opens_no_status_stream(client, db):
    seed.run(db, "finished", "train", "succeeded")

    page = client.get("/projects/finished/runs").get_data(as_text=True)

    assert "data-stream" not in page and "runs_list.js" not in page


def test_names_and_values_from_events_are_escaped(client, db):
    seed.run(
        db,
        "escaping",
        "<script>alert(1)</script>",
        event={"kind": "push", "repo": "acme/<b>x</b>", "branch": "<i>main</i>", "sha": "abc"},
    )

    page = client.get("/projects/escaping/runs").get_data(as_text=True)

    assert "<script>alert(1)" not in page and "<i>main</i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_page_and_its_stream_need_a_login(anonymous_client, db):
    train = seed.run(db, "private", "train", "running")

    for path in ("/projects/private/runs", f"/projects/private/runs/stream?ids={train}"):
        answer = anonymous_client.get(path)
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith("/login?next=")
