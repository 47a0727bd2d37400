"""Copies of one delivery arriving at once (a sender's retries racing each other) are stored
once and make one run; every copy is answered 2xx, so no sender keeps retrying."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.e2e import burst

COPIES = 20


def test_twenty_concurrent_copies_of_one_delivery_are_stored_once_and_run_once(production_axon):
    axon = production_axon().start()
    project, source = burst.subscribe(axon)
    deliveries = [burst.push(burst.RUN_BRANCH) for _ in range(3)]

    answers = []
    for item in deliveries:
        together = threading.Barrier(COPIES)

        def send_copy(item: burst.Push = item, together: threading.Barrier = together) -> int:
            together.wait()
            url = f"/webhooks/github/{source}"
            return axon.api("POST", url, data=item.body, headers=item.headers).status_code

        with ThreadPoolExecutor(COPIES) as senders:
            answers.append(Counter(senders.map(lambda _: send_copy(), range(COPIES))))

    # The first copy stored is accepted; the others are told it was already received.
    assert answers == [Counter({202: 1, 200: COPIES - 1})] * len(deliveries)
    burst.processed_once(axon, project, deliveries)
