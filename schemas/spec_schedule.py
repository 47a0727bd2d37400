"""When an operation runs on its own (V1CronSchedule, V1IntervalSchedule, V1DateTimeSchedule).

A time without a zone is UTC. A cron expression has five fields or is one of Polyaxon's and
cron's nicknames: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal, Self

from croniter import croniter
from pydantic import AfterValidator, Field, field_validator, model_validator

from schemas.spec_base import SpecModel, located_error


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


Time = Annotated[datetime.datetime, AfterValidator(_utc)]


class _Repeating(SpecModel):
    start_at: Time | None = None
    end_at: Time | None = None
    max_runs: Annotated[int, Field(ge=1)] | None = None
    depends_on_past: bool | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise located_error(("endAt",), "must be after startAt")
        return self


class V1CronSchedule(_Repeating):
    """`{kind: cron, cron: "0 3 * * *"}`: run at every time the expression matches."""

    kind: Literal["cron"]
    cron: str

    @field_validator("cron")
    @classmethod
    def _cron_is_valid(cls, cron: str) -> str:
        if not croniter.is_valid(cron.strip()):
            raise ValueError(f"{cron!r} is not a cron expression (five fields, or @daily...)")
        return cron.strip()


class V1IntervalSchedule(_Repeating):
    """`{kind: interval, frequency: 3600}`: run every `frequency` seconds from startAt."""

    kind: Literal["interval"]
    frequency: Annotated[float, Field(gt=0)]


class V1DateTimeSchedule(SpecModel):
    """`{kind: datetime, startAt: 2026-01-01T03:00:00Z}`: run once, then."""

    kind: Literal["datetime"]
    start_at: Time


V1Schedule = Annotated[
    V1CronSchedule | V1IntervalSchedule | V1DateTimeSchedule, Field(discriminator="kind")
]
