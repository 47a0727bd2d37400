"""Edit in place: a later status edits the message an earlier receipt names, or posts anew."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import requests

from notifiers import http
from notifiers.base import Notifier, Receipt, Report
from schemas.status import DONE, RunStatus

Id = TypeVar("Id")
Answer = TypeVar("Answer")
# What a REST API answers the edit of a message deleted since; pass it as the edit's `accept`.
GONE = (404,)


def previous_id(previous: Receipt | None, key: str, **place: Any) -> Any:
    """The message id `previous` keeps under `key`, if its data names the same `place` (the
    same repository and pull request, say); else None."""
    if previous is None or not previous.data.get(key):
        return None
    if any(previous.data.get(name) != value for name, value in place.items()):
        return None
    return previous.data[key]


def edit_or_post(
    message_id: Id | None,
    edit: Callable[[Id], Answer | None],
    post: Callable[[], Answer],
) -> tuple[bool, Answer]:
    """Edit message `message_id`, if there is one; post a new message when there is none or
    `edit` answers None, the target having lost it. Whether it edited, and the answer."""
    if message_id is not None:
        answer = edit(message_id)
        if answer is not None:
            return True, answer
    return False, post()


def edit_or_post_rest(
    message_id: Any,
    edit: Callable[[Any], requests.Response],
    post: Callable[[], requests.Response],
) -> tuple[Any, requests.Response]:
    """`edit_or_post` for a REST API whose `edit` accepts GONE: the id of the message edited or
    posted (a new one's is the answer's `id`), and the answer."""

    def unless_gone(old: Any) -> requests.Response | None:
        response = edit(old)
        return None if response.status_code in GONE else response

    edited, response = edit_or_post(message_id, unless_gone, post)
    return (message_id if edited else http.json_object(response).get("id")), response


class PullRequestMessage(Notifier):
    """One message per pull request and subscription, kept up to date from the run's start."""

    wants = DONE | {RunStatus.RUNNING}
    receipt_scope = "pull_request"
    edits_in_place = True
    pull_request_name: ClassVar[str] = "pull request"  # what the forge calls one

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Post the message, or edit the one `previous` names; a run not on a pull
        request gets none, and its receipt says why."""
        if report.pull_request is None:
            return Receipt(
                self.name, data={"skipped": f"the run is not on a {self.pull_request_name}"}
            )
        return self.send_to_pull_request(report, target, previous)

    @abstractmethod
    def send_to_pull_request(
        self, report: Report, target: dict[str, Any], previous: Receipt | None
    ) -> Receipt:
        """Required. `send`, for a run on a pull request."""
