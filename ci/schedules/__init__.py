"""Schedules: a subscription's `on.schedule` becomes deliveries, and an operation's own
`schedule:` child runs of its controller, one per slot, however many schedulers run.

`sync` keeps the schedule rows in step with their subscription, `firing` turns due slots into
deliveries (which ci.runs.dispatch reads like any other), and `state` is the only writer of a
schedule's state. `controller` does the same for an operation's own `schedule:`: its row belongs
to a controller run, and each fired slot becomes a child run of it. Kept apart from intake
because a slot is made here, not received.
"""
