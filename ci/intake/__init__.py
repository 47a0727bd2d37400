"""Intake: what comes in through a webhook, kept before it is answered.

A delivery is recorded (`receipt`), copied to be processed again (`redelivery`, for the API
and the dashboard alike) and its status moved only by `delivery_state`; the
subscription documents a project keeps are validated here as a whole before they are stored
(`documents`), and old deliveries are pruned (`retention`). Nothing here starts a run: the
outbox relay (ci.agent.outbox) hands each stored delivery to the worker, and ci.runs takes it
from there.
"""
