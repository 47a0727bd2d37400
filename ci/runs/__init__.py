"""Runs: a delivery becomes runs, and each run moves through its life.

`dispatch` turns one delivery into events, decisions and runs in one transaction; `launch`
compiles a run and hands it to its runner; `groups` and `capacity` hold runs back while their
concurrency group or their queue is busy. `lifecycle` is the only writer of a run's status;
what follows a status change (reports, the next run of a group or queue) is registered by
ci.wiring, never by importing a module.
"""
