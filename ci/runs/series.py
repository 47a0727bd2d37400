"""A run's series, packed: the points of a metric (or of a resource sample) in chunks of
`CHUNK` steps, one row each (models.MetricChunk).

A point is (step, time, value): three 8-byte numbers, so a series of 10^5 points is a hundred
rows of 24 KB rather than 10^5 rows. Point `step` lives in chunk `step // CHUNK`, so a re-sent
step finds its point in one row and replaces it. NaN and infinities are kept as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ci.store.models import MetricChunk

CHUNK = 1024
POINT = np.dtype([("step", "<i8"), ("time", "<f8"), ("value", "<f8")])

Points = dict[int, tuple[float, float]]  # step -> (time, value)


def unpack(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=POINT)


def pack(points: Points) -> bytes:
    steps = sorted(points)
    packed = np.empty(len(steps), dtype=POINT)
    packed["step"] = steps
    packed["time"] = [points[s][0] for s in steps]
    packed["value"] = [points[s][1] for s in steps]
    return packed.tobytes()


@dataclass
class Writer:
    """The chunks one request touches for one run and kind, loaded once and written once."""

    session: Session
    run_id: int
    kind: str
    rows: dict[tuple[str, int], MetricChunk | None] = field(default_factory=dict)
    points: dict[tuple[str, int], Points] = field(default_factory=dict)
    highest: dict[str, int | None] = field(default_factory=dict)
    added: int = 0

    def next_step(self, name: str) -> int:
        """The step after the highest the series has: where a point without a step goes."""
        highest = self._highest(name)
        return 0 if highest is None else highest + 1

    def put(self, name: str, step: int, time: float, value: float) -> None:
        points = self._chunk(name, step // CHUNK)
        self.added += step not in points
        points[step] = (time, value)
        highest = self._highest(name)
        self.highest[name] = step if highest is None else max(highest, step)

    def latest(self, name: str) -> float | None:
        highest = self._highest(name)
        if highest is None:
            return None
        return self._chunk(name, highest // CHUNK)[highest][1]

    def write(self) -> None:
        for key, points in self.points.items():
            row = self.rows[key]
            if row is None:
                name, chunk = key
                row = MetricChunk(run_id=self.run_id, kind=self.kind, name=name, chunk=chunk)
                self.session.add(row)
            row.count, row.points = len(points), pack(points)
        self.session.flush()

    def _highest(self, name: str) -> int | None:
        if name not in self.highest:
            last = self.session.scalar(
                select(func.max(MetricChunk.chunk)).where(*self._where(name))
            )
            points = self._chunk(name, last) if last is not None else {}
            self.highest[name] = max(points) if points else None
        return self.highest[name]

    def _chunk(self, name: str, chunk: int) -> Points:
        key = (name, chunk)
        if key not in self.points:
            row = self.session.scalar(
                select(MetricChunk).where(*self._where(name), MetricChunk.chunk == chunk)
            )
            self.rows[key] = row
            found = unpack(row.points) if row is not None else np.empty(0, dtype=POINT)
            self.points[key] = {
                int(s): (float(t), float(v))
                for s, t, v in zip(found["step"], found["time"], found["value"], strict=True)
            }
        return self.points[key]

    def _where(self, name: str) -> tuple[ColumnElement[bool], ...]:
        return (
            MetricChunk.run_id == self.run_id,
            MetricChunk.kind == self.kind,
            MetricChunk.name == name,
        )


def kept(session: Session, run_id: int, kind: str) -> int:
    """How many points the run keeps of this kind, all names together."""
    total = session.scalar(
        select(func.sum(MetricChunk.count)).where(
            MetricChunk.run_id == run_id, MetricChunk.kind == kind
        )
    )
    return int(total or 0)


def read(session: Session, run_ids: Iterable[int], kind: str, name: str) -> dict[int, np.ndarray]:
    """Each run's points of the series in step order; runs without any left out."""
    ids = list(run_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(MetricChunk.run_id, MetricChunk.points)
        .where(MetricChunk.run_id.in_(ids), MetricChunk.kind == kind, MetricChunk.name == name)
        .order_by(MetricChunk.run_id, MetricChunk.chunk)
    )
    parts: dict[int, list[np.ndarray]] = defaultdict(list)
    for run_id, data in rows:
        parts[run_id].append(unpack(data))
    return {run_id: np.concatenate(found) for run_id, found in parts.items()}


def last_points(
    session: Session, run_ids: Iterable[int], kind: str, name: str | None = None
) -> dict[tuple[int, str], tuple[int, float, float, int]]:
    """(run, name) -> (step, time, value, count) of each series' highest step; one chunk read
    per series, however long. `name` None: every series of the runs."""
    ids = list(run_ids)
    if not ids:
        return {}
    conditions = [MetricChunk.run_id.in_(ids), MetricChunk.kind == kind]
    if name is not None:
        conditions.append(MetricChunk.name == name)
    partition = (MetricChunk.run_id, MetricChunk.name)
    rank = func.row_number().over(partition_by=partition, order_by=MetricChunk.chunk.desc())
    total = func.sum(MetricChunk.count).over(partition_by=partition)
    ranked = select(
        MetricChunk.run_id,
        MetricChunk.name,
        MetricChunk.points,
        rank.label("rank"),
        total.label("total"),
    ).where(*conditions)
    inner = ranked.subquery()
    rows = session.execute(
        select(inner.c.run_id, inner.c.name, inner.c.points, inner.c.total)
        .where(inner.c.rank == 1)
        .order_by(inner.c.run_id, inner.c.name)
    )
    found = {}
    for run_id, series_name, data, count in rows:
        last = unpack(data)[-1]
        found[(run_id, series_name)] = (
            int(last["step"]),
            float(last["time"]),
            float(last["value"]),
            int(count),
        )
    return found
