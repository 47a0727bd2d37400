"""Schedules: a subscription's `on.schedule` becomes deliveries, one per slot, however many
schedulers run.

`sync` keeps the schedule rows in step with their subscription, `firing` turns due slots into
deliveries (which ci.runs.dispatch reads like any other), and `state` is the only writer of a
schedule's state. Kept apart from intake because a slot is made here, not received.
"""
