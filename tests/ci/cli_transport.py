"""The `axon` command's HTTP calls answered by the app's test client, in process."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from ci.runs import lifecycle
from ci.store.models import Run
from schemas.status import RunStatus

S = RunStatus

# How each outcome is reached, as the runner and the engine would report it.
PATHS = {
    S.SUCCEEDED: (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.SUCCEEDED),
    S.FAILED: (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.FAILED),
    S.UPSTREAM_FAILED: (S.UPSTREAM_FAILED,),
    S.STOPPED: (S.COMPILED, S.QUEUED, S.SCHEDULED, S.STOPPING, S.STOPPED),
    S.SKIPPED: (S.SKIPPED,),
}


class Api:
    """`requests.request` answered by the app's test client; a watched run ends as `outcome`
    the first time the command asks for it, with a line of logs."""

    def __init__(self, client: Any, db: Any) -> None:
        self.client, self.db = client, db
        self.outcome: RunStatus | None = None
        self.requests: list[tuple[str, str]] = []

    def __call__(self, method: str, url: str, headers=None, timeout=None, **kwargs) -> Any:
        path = urlsplit(url).path
        self.requests.append((method, path))
        if method == "GET" and path.startswith("/api/v1/runs/") and self.outcome is not None:
            self._finish(path.split("/")[4])
        answer = self.client.open(
            path,
            method=method,
            headers=headers,
            json=kwargs.get("json"),
            query_string=kwargs.get("params"),
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.get_data()
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response.url = url
        return response

    def _finish(self, uuid: str) -> None:
        with self.db.session() as session:
            run = session.query(Run).filter(Run.uuid == uuid).with_for_update().one()
            if run.status != S.CREATED:
                return
            for status in PATHS[self.outcome]:
                lifecycle.transition(session, run, status, "Test", f"reached {status}")
            run.logs = "epoch 1 loss 0.3\n"
