"""The agent: the long-running loops beside the API and the worker.

`process` starts them as threads that take the process down when one ends. `recording`
turns what a runner observes into transitions, applied on `lanes` (each run's in order);
`logs_follow` stores a running run's logs; `outbox` relays stored deliveries to the worker;
`sweeper` re-sends work whose message was lost, after `probes` down the queue show it was.
"""
