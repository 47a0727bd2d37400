"""The intake benchmark's count of Axon's queued work, on the machine's RabbitMQ: the relay's
messages each name several deliveries, so the count is of the deliveries they name."""

from __future__ import annotations

import uuid

from celery import Celery

from tests.benchmarks.stack import RABBITMQ, Queue
from tests.waiting import wait_for


def test_the_queue_counts_the_deliveries_the_relays_messages_name_and_nothing_else():
    queue = Queue(f"axon-count-{uuid.uuid4().hex[:8]}")
    app = Celery("count", broker=RABBITMQ)
    app.conf.update(task_default_queue=queue.name)
    try:
        app.send_task("axon.process_deliveries", args=([1, 2, 3],))
        app.send_task("axon.probe", args=(7,))  # the sweeper's, not a delivery
        app.send_task("axon.process_deliveries", args=([4],))
        wait_for(lambda: queue.depth() == 3, 10)

        assert queue.deliveries() == 4
        assert queue.depth() == 0  # read off the queue, and still counted:
        app.send_task("axon.process_deliveries", args=([5, 6],))
        wait_for(lambda: queue.deliveries() == 6, 10)

        queue.purge()
        assert queue.deliveries() == 0
    finally:
        queue.delete()
        app.close()
