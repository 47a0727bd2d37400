"""The application: the only package with state, IO and processes (database, Celery, Flask).

Rooms, and what belongs in each:

    intake/     a webhook delivery recorded and answered; subscription documents validated
    runs/       a delivery becomes runs; compiling, launching, groups, queues, the pipeline
                engine (dag and matrix controllers); run status
    schedules/  `on.schedule` and an operation's own `schedule:`: slots become deliveries or a
                schedule controller's child runs, exactly once
    compile/    pure: an operation and an event's context become runs' specs (no IO at all)
    reporting/  a status change told to each report target, with budgets and hooks
    agent/      long-running loops: runner observations, log following, outbox relay, sweeper
    store/      tables, the database session, migrations
    api/        the Flask blueprints of the REST API and the pages
    cli/        the `axon` command
    optimize/   hyperparameter search: suggestions from past runs' results
    artifacts/  runs' files and finished logs in a store chosen by setting (a directory, fsspec)
    connections/ a project's credentials: encrypted at rest, opened only to mount into a run
    identity/   who asks and what they may do: users, orgs, teams, roles, access tokens, the
                policy table every route declares its need in, the audit log

Beside the rooms, the frame every process shares: `config` (settings), `runtime` (settings,
database and Celery app of this process, and `enqueue`), `tasks` (the Celery tasks, each a thin
call into a room), `supervision` (loops that outlive outages), `app` (the Flask factory),
`embedded` (one process running everything) and `wiring`, the composition root: every entry
point calls `wiring.wire(rt)`, which gives the runtime its publisher and registers, in a
stated order, what reacts to a run's status change. Rooms never import ci.tasks; they publish
by task name through `runtime.enqueue`.

A webhook's way: api/webhooks -> intake.receipt (stored with the answer; an outbox row) ->
agent.outbox relays it -> tasks.process_deliveries (several a message) -> runs.dispatch
(events, decisions, runs) -> tasks.start_run -> runs.launch (compile.compiler, then the
runner). A dag's ops released together go as tasks.start_runs, a batch per task and
transaction.

A run's way: runs.launch submits it -> agent.recording turns what the runner sees into
runs.lifecycle transitions -> after each commit the reactions wired in `wiring` run:
runs.capacity starts a run waiting for the queue, tasks.report_run sends reporting.reports to
the targets, and runs.groups lets the group's next run go. agent.sweeper re-sends any of these
whose message was lost.

Imports go one way: ci/ has no import cycle (tests/ci/test_layout.py walks them), and only
`wiring` and the `axon` command's functions may import a ci module inside a function.

Where a change belongs: a new webhook header or answer, intake; a new way a run starts, waits
or stops, runs; a new spec field, compile; a new report target's use, reporting; anything that
must keep running beside the API, agent; a new column, store (with a migration).
"""
