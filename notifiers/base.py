"""The Notifier interface: send one Report to one target, returning a Receipt."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from schemas.status import DONE, RunStatus


class TransientError(Exception):
    """The target failed in a way that may pass; retry, after `retry_after` seconds if given.

    `status_code` is the HTTP status of the answer that failed (None: no HTTP answer came).
    """

    def __init__(
        self, message: str, retry_after: float | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code


class PermanentError(Exception):
    """The target refused the report for good (bad token, unknown repo): record, don't retry.

    `status_code` is the HTTP status of the answer that refused (None: no HTTP answer came).
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def format_duration(seconds: float) -> str:
    """`12s`, `12m 34s`, `2h 03m`: how long a run took, as people read it."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@dataclass(frozen=True)
class Comparison:
    """One output of the run beside the same output of the base branch's latest successful run."""

    name: str
    value: Any
    base: Any = None  # None: the base branch's run has no such output
    delta: float | None = None
    verdict: str = ""  # "better", "worse", "within tolerance", or "" when not compared


@dataclass(frozen=True)
class OpLine:
    """One op of a pipeline as its report shows it: a line of the pipeline's one message."""

    name: str  # its op name; a nested op's is led by its parents' (`build / compile`)
    status: RunStatus
    url: str = ""
    duration: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # its key outputs, the first few
    why: str = ""  # its message when it did not succeed (`condition is false`), on one line


@dataclass(frozen=True)
class Report:
    """One run's status change, in the words every target needs."""

    run_uuid: str
    run_name: str
    project: str
    status: RunStatus
    reason: str = ""
    message: str = ""
    url: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    repo: str = ""
    sha: str = ""
    ref: str = ""
    branch: str = ""
    pull_request: int | None = None
    subscription: str = ""
    # For a run on a pull request: its outputs against the base branch (empty: no comparison).
    comparisons: tuple[Comparison, ...] = ()
    base_branch: str = ""
    base_url: str = ""  # the page of the base branch's run compared against
    # Why the outputs break the subscription's rule against the base branch, e.g. "accuracy
    # dropped 0.8 points, more than 0.5"; empty when they keep it. A check run then fails.
    regression: str = ""
    # A pipeline's ops (a dag's, a matrix's trials, a schedule's fired runs), one line each, in
    # the order they were made; empty for a run that has none.
    ops: tuple[OpLine, ...] = ()
    # A search's best trial so far, on one line: "best: trial #7 loss=0.12 (lr=0.01, ...)";
    # empty for a run that is no search or before a trial succeeded with the metric.
    best: str = ""
    # A running run's progress on one line, "epoch 3/10 · loss 0.21 · ETA 4 min"; empty for a
    # status change. Targets that show the status in place show it after the status.
    progress: str = ""


@dataclass(frozen=True)
class Receipt:
    """What a target answered: enough for the next status to edit the same message.

    A notifier with nothing to send (a pull-request comment for a run on a push) returns
    `data={"skipped": reason}`: the notification log shows it `skipped`, with the reason.
    `status_code` is the HTTP status of the target's last answer, for the notification log
    (None: no HTTP answer); it is not kept with the receipt, nor compared.
    """

    target: str
    external_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    status_code: int | None = field(default=None, compare=False)


class Notifier(ABC):
    """One report target. Takes values, returns values; raises TransientError to be retried."""

    name: ClassVar[str]
    # The statuses this notifier reports. A class attribute that an instance may change from its
    # settings (Slack with a bot token also wants `running`, because it can edit that message).
    wants: frozenset[RunStatus] = DONE
    # Optional. What `send` may raise for "not now": each is retried with backoff, within the
    # target's budget. A notifier adds its client's own exceptions here.
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (TransientError,)
    # "run": `previous` is this run's last receipt. "pull_request": one message per pull
    # request and subscription, so a later run's report edits an earlier run's message.
    receipt_scope: ClassVar[str] = "run"
    # Whether a later send edits the message an earlier one left (a PR comment, a check run, a
    # bot's Slack message): such a target also hears of each op of a pipeline as it moves, by
    # an edit of the pipeline's one message. An instance may change it from its settings.
    edits_in_place: bool = False
    # Whether a later send replaces what an earlier one showed without a message of its own (a
    # commit status of the same context): like an edit in place, it may carry a run's progress.
    replaces_in_place: ClassVar[bool] = False

    @abstractmethod
    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Deliver `report` to `target`; `previous` is the last receipt for this run."""
