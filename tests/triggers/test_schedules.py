"""Schedules: when slots fall (zones, DST, limits), and what happens to slots that were missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import SpecError
from triggers.schedules import MAX_CATCH_UP, Schedule

PATH = "on.schedule[0]"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def schedule(**spec) -> Schedule:
    return Schedule.from_spec(spec, PATH)


def slots(timing: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Every slot in (start, end], walking as a scheduler does."""
    found, slot = [], timing.next_after(start)
    while slot is not None and slot <= end:
        found.append(slot)
        slot = timing.next_after(slot)
    return found


def local(moments: list[datetime], zone: str) -> list[str]:
    from zoneinfo import ZoneInfo

    return [m.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M%z") for m in moments]


# --- the spec -------------------------------------------------------------------------------


def test_the_short_forms_and_polyaxons_kind_form_read_the_same():
    assert schedule(cron="0 3 * * *", timezone="Europe/Paris") == schedule(
        kind="cron", cron="0 3 * * *", timezone="Europe/Paris"
    )
    assert schedule(interval=3600) == schedule(kind="interval", frequency=3600)
    short = schedule(datetime="2026-12-01T00:00:00Z")
    polyaxon = schedule(kind="datetime", startAt="2026-12-01T00:00:00Z")
    assert short.at == polyaxon.at == utc(2026, 12, 1)
    assert short.next_after(utc(2026, 1, 1)) == polyaxon.next_after(utc(2026, 1, 1))


def test_defaults_are_a_kubernetes_cronjobs():
    timing = schedule(cron="*/5 * * * *")
    assert (timing.catch_up, timing.concurrency, timing.starting_deadline) == (
        "latest",
        "Allow",
        None,
    )
    assert (timing.jitter, timing.depends_on_past, timing.timezone) == (timedelta(0), False, "UTC")


def test_every_option_is_read():
    timing = schedule(
        cron="0 3 * * *",
        timezone="Europe/Paris",
        startAt="2026-01-01T00:00:00Z",
        endAt="2026-06-01T00:00:00+02:00",
        maxRuns=10,
        dependsOnPast=True,
        catchUp="all",
        startingDeadlineSeconds=600,
        concurrencyPolicy="Forbid",
        jitter=30,
    )
    assert timing.start_at == utc(2026, 1, 1)
    assert timing.end_at == utc(2026, 5, 31, 22)
    assert (timing.max_runs, timing.depends_on_past, timing.catch_up) == (10, True, "all")
    assert timing.starting_deadline == timedelta(minutes=10)
    assert (timing.concurrency, timing.jitter) == ("Forbid", timedelta(seconds=30))


@pytest.mark.parametrize(
    ("spec", "path", "reason"),
    [
        ("0 3 * * *", PATH, "expected a mapping"),
        ({"every": 5}, PATH, "say when: one of cron, interval, datetime"),
        ({"kind": "weekly"}, f"{PATH}.kind", "expected one of cron, interval, datetime"),
        ({"cron": "0 3 * * *", "interval": 60}, f"{PATH}.interval", "one schedule is one of"),
        ({"kind": "cron", "cron": "* * * * *", "frequency": 5}, f"{PATH}.frequency", "not a key"),
        ({"cron": "0 3 * * *", "colour": "red"}, f"{PATH}.colour", "unknown key"),
        ({"cron": "0 25 * * *"}, f"{PATH}.cron", "not a valid cron expression"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, f"{PATH}.timezone", "unknown IANA"),
        ({"interval": 0}, f"{PATH}.interval", "expected a positive number of seconds"),
        ({"kind": "interval", "frequency": "1h"}, f"{PATH}.frequency", "positive number"),
        ({"kind": "datetime"}, f"{PATH}.datetime", "required"),
        ({"datetime": "tomorrow"}, f"{PATH}.datetime", "not an ISO 8601 time"),
        ({"interval": 60, "maxRuns": 0}, f"{PATH}.maxRuns", "positive integer"),
        ({"interval": 60, "dependsOnPast": "yes"}, f"{PATH}.dependsOnPast", "true or false"),
        ({"interval": 60, "catchUp": "some"}, f"{PATH}.catchUp", "none, latest, all"),
        (
            {"interval": 60, "concurrencyPolicy": "forbid"},
            f"{PATH}.concurrencyPolicy",
            "Allow, Forbid, Replace",
        ),
        ({"interval": 60, "jitter": -1}, f"{PATH}.jitter", "non-negative number"),
        (
            {"interval": 60, "startingDeadlineSeconds": 0},
            f"{PATH}.startingDeadlineSeconds",
            "positive number of seconds",
        ),
        (
            {"interval": 60, "startAt": "2026-02-01T00:00Z", "endAt": "2026-01-01T00:00Z"},
            f"{PATH}.endAt",
            "before startAt",
        ),
    ],
)
def test_a_bad_schedule_names_the_field_and_the_reason(spec, path, reason):
    with pytest.raises(SpecError) as raised:
        Schedule.from_spec(spec, PATH)
    assert raised.value.path == path
    assert reason in raised.value.reason


# --- when slots fall ------------------------------------------------------------------------


def test_a_cron_is_read_in_its_own_time_zone():
    timing = schedule(cron="0 3 * * *", timezone="Europe/Paris")
    assert timing.next_after(utc(2026, 1, 10)) == utc(2026, 1, 10, 2)  # CET, UTC+1
    assert timing.next_after(utc(2026, 7, 10)) == utc(2026, 7, 10, 1)  # CEST, UTC+2


def test_an_interval_counts_from_its_start_and_stops_at_its_end():
    timing = schedule(interval=3600, startAt="2026-01-01T00:10:00Z", endAt="2026-01-01T03:10:00Z")
    found = slots(timing, utc(2025, 12, 31), utc(2026, 1, 2))
    assert found == [utc(2026, 1, 1, h, 10) for h in range(4)]
    assert timing.end_reason(4, None) == "no slot left before endAt 2026-01-01T03:10:00+00:00"


def test_a_datetime_fires_once():
    timing = schedule(datetime="2026-12-01T08:00:00+01:00")
    assert slots(timing, utc(2026, 1, 1), utc(2027, 1, 1)) == [utc(2026, 12, 1, 7)]
    assert timing.end_reason(1, None).startswith("its one slot")


def test_max_runs_ends_the_schedule():
    timing = schedule(interval=60, maxRuns=3)
    assert timing.end_reason(2, utc(2026, 1, 1)) == ""
    assert timing.end_reason(3, utc(2026, 1, 1)) == "maxRuns 3 reached"


# --- daylight saving time -------------------------------------------------------------------


def test_spring_forward_a_daily_slot_in_the_gap_fires_once_right_after_it():
    # Europe/Paris, 2025-03-30: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day.
    timing = schedule(cron="30 2 * * *", timezone="Europe/Paris")
    found = slots(timing, utc(2025, 3, 28, 12), utc(2025, 4, 1, 12))
    assert local(found, "Europe/Paris") == [
        "03-29 02:30+0100",
        "03-30 03:00+0200",
        "03-31 02:30+0200",
        "04-01 02:30+0200",
    ]


def test_spring_forward_an_hourly_job_has_no_slot_in_the_missing_hour():
    timing = schedule(cron="30 * * * *", timezone="Europe/Paris")
    day = slots(timing, utc(2025, 3, 29, 23) - timedelta(microseconds=1), utc(2025, 3, 30, 22))
    assert len(day) == 23
    assert "03-30 02:30+0100" not in local(day, "Europe/Paris")


def test_fall_back_a_daily_slot_in_the_repeated_hour_fires_once():
    # Europe/Paris, 2025-10-26: 03:00 CEST becomes 02:00 CET; 02:30 happens twice that day.
    timing = schedule(cron="30 2 * * *", timezone="Europe/Paris")
    found = slots(timing, utc(2025, 10, 24, 12), utc(2025, 10, 27, 12))
    assert local(found, "Europe/Paris") == [
        "10-25 02:30+0200",
        "10-26 02:30+0200",
        "10-27 02:30+0100",
    ]


def test_fall_back_a_01_30_job_in_new_york_fires_once():
    # America/New_York, 2025-11-02: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
    timing = schedule(cron="30 1 * * *", timezone="America/New_York")
    found = slots(timing, utc(2025, 11, 1, 12), utc(2025, 11, 3, 12))
    assert found == [utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]


def test_fall_back_an_hourly_job_runs_in_both_hours():
    timing = schedule(cron="0 * * * *", timezone="Europe/Paris")
    day = slots(timing, utc(2025, 10, 25, 22) - timedelta(microseconds=1), utc(2025, 10, 26, 22))
    assert len(day) == 25
    assert local(day, "Europe/Paris")[2:4] == ["10-26 02:00+0200", "10-26 02:00+0100"]


DST_ZONES = ("Europe/Paris", "America/New_York", "Australia/Sydney", "UTC")
CRONS = ("30 2 * * *", "0 * * * *", "*/7 * * * *", "15 1,2,3 * * 0", "0 0 1 * *")


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(DST_ZONES),
    cron=st.sampled_from(CRONS),
    moment=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31)),
)
def test_the_latest_slot_before_a_moment_agrees_with_walking_forward(zone, cron, moment):
    timing = schedule(cron=cron, timezone=zone)
    moment = moment.replace(tzinfo=UTC)
    latest = timing.latest_at_or_before(moment)
    assert latest is not None and latest <= moment
    assert timing.next_after(latest - timedelta(microseconds=1)) == latest  # it is a slot
    assert timing.next_after(latest) > moment  # and none comes between


# --- missed slots ---------------------------------------------------------------------------

DOWN_FROM, BACK_AT = utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 1, 5)  # 7 slots of */10 missed


def test_catch_up_none_fires_nothing_for_missed_slots_and_goes_on_from_the_next():
    plan = schedule(cron="*/10 * * * *", catchUp="none").plan(DOWN_FROM, BACK_AT, "k")
    assert plan.fire == ()
    [(first, reason)] = plan.skip
    assert first == DOWN_FROM
    assert reason.startswith("missed: 7 slot(s) from 2026-01-01T00:00:00+00:00 to")
    assert "starting deadline (60s, catchUp none)" in reason
    assert plan.next_slot == utc(2026, 1, 1, 1, 10)


def test_catch_up_none_still_fires_a_slot_seen_on_time():
    plan = schedule(cron="*/10 * * * *", catchUp="none").plan(utc(2026, 1, 1, 1), BACK_AT, "k")
    assert plan.fire == ()  # five minutes late
    plan = schedule(cron="*/10 * * * *", catchUp="none").plan(
        utc(2026, 1, 1, 1), utc(2026, 1, 1, 1, 0, 30), "k"
    )
    assert (plan.fire, plan.skip) == ((utc(2026, 1, 1, 1),), ())


def test_catch_up_latest_fires_the_most_recent_missed_slot_only():
    plan = schedule(cron="*/10 * * * *").plan(DOWN_FROM, BACK_AT, "k")
    assert plan.fire == (utc(2026, 1, 1, 1, 0),)
    [(first, reason)] = plan.skip
    assert first == DOWN_FROM
    assert "6 slot(s)" in reason and "fires only the most recent" in reason


def test_catch_up_latest_respects_the_starting_deadline():
    timing = schedule(cron="*/10 * * * *", startingDeadlineSeconds=120)
    plan = timing.plan(DOWN_FROM, BACK_AT, "k")
    assert plan.fire == ()
    assert "7 slot(s)" in plan.skip[0][1] and "starting deadline (120s" in plan.skip[0][1]


def test_catch_up_all_fires_every_missed_slot_oldest_first():
    plan = schedule(cron="*/10 * * * *", catchUp="all").plan(DOWN_FROM, BACK_AT, "k")
    assert plan.fire == tuple(utc(2026, 1, 1, 0, 0) + timedelta(minutes=10 * n) for n in range(7))
    assert plan.skip == ()
    assert plan.next_slot == utc(2026, 1, 1, 1, 10)


def test_catch_up_all_leaves_out_slots_older_than_the_starting_deadline():
    timing = schedule(cron="*/10 * * * *", catchUp="all", startingDeadlineSeconds=1500)
    plan = timing.plan(DOWN_FROM, BACK_AT, "k")
    assert plan.fire == (utc(2026, 1, 1, 0, 40), utc(2026, 1, 1, 0, 50), utc(2026, 1, 1, 1))
    assert "4 slot(s) from 2026-01-01T00:00:00+00:00 to 2026-01-01T00:30:00" in plan.skip[0][1]


def test_catch_up_all_is_bounded():
    plan = schedule(cron="* * * * *", catchUp="all").plan(DOWN_FROM, utc(2026, 1, 1, 3), "k")
    assert len(plan.fire) == MAX_CATCH_UP
    assert plan.fire[-1] == utc(2026, 1, 1, 3)
    assert f"beyond the {MAX_CATCH_UP} newest" in plan.skip[0][1]


def test_a_schedule_not_due_yet_plans_nothing():
    plan = schedule(cron="*/10 * * * *").plan(utc(2026, 1, 1, 1, 10), BACK_AT, "k")
    assert plan == plan.__class__((), (), utc(2026, 1, 1, 1, 10))


# --- jitter ---------------------------------------------------------------------------------


def test_jitter_is_the_same_for_every_scheduler_and_stays_within_bounds():
    slot = utc(2026, 1, 1, 3)
    offsets = {schedule(cron="0 3 * * *", jitter=300).offset(slot, "7/0") for _ in range(3)}
    assert len(offsets) == 1
    spread = [schedule(interval=60, jitter=300).offset(slot, f"{n}/0") for n in range(200)]
    assert all(timedelta(0) <= o < timedelta(seconds=300) for o in spread)
    assert len(set(spread)) > 150  # schedules due at one time are spread out


def test_a_jittered_slot_fires_at_its_jittered_time():
    timing = schedule(cron="0 3 * * *", jitter=600)
    slot = utc(2026, 1, 1, 3)
    due = timing.due_at(slot, "7/0")
    assert timing.plan(slot, due - timedelta(milliseconds=1), "7/0").fire == ()
    assert timing.plan(slot, due, "7/0").fire == (slot,)
