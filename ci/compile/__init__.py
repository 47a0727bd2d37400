"""Compile: a Polyaxon operation and an event's context in, runs' specs out, and nothing else.

Pure: no database, no Flask, no Celery, no ci.store (tests/ci/test_layout.py fails otherwise),
so `axon check` and the optimizers compile without a server. `compiler` is the way in; it finds
the component (`refs`), merges presets and patches (`patching`), checks a dag (`dag`), expands
a matrix (`matrix`), binds params (`binding`) and renders strings in the sandbox
(`templating`). `inheritance` passes a dag's settings on to its ops; `unsupported` names what
Axon reads but does not carry out yet.
"""
