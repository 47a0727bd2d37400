"""The `hyperopt` kind: hyperopt's tpe, rand or anneal, asked one trial at a time.

The trials are rebuilt from the observations on every call (as polyaxon/hypertune's
search_managers/hyperopt/manager.py does): a succeeded trial is `ok` with its loss (a maximized
metric negated), a failed one is `fail` and a running one `new`. hyperopt 0.3's TPE gives both an
infinite loss, so it counts a failed point among the worst and a running point as pending; each
suggestion made in this call joins the trials as a running one before the next is asked. The
seed of each trial is derived from the search's seed and the trial's id, so one call of n
suggestions and n calls of one give the same points. A point already taken is drawn again with
the next seed; a listable space with no point left gives fewer suggestions.

Unlike Polyaxon, TPE starts modelling after 10 trials, not 20. On a space of bounded numeric
params (uniform, quniform, loguniform, qloguniform) it models them jointly (ci.optimize.joint,
Optuna's multivariate TPE: a density per param lets a candidate mix the coordinates of different
good points, ci.optimize.joint says where it differs from Optuna's); on the tuning set its median
regret was 0.66 times Optuna's TPE's (geometric mean over its 12 cells, 10 seeds, better in 9;
1.13 times with Optuna's 24 candidates and good group of 10%). It is told how many trials run,
this call's earlier suggestions among them. Start-up counts the running trials, as hyperopt does:
waiting for 10 finished ones, as Optuna does, left 1.18 times the regret there. Other spaces are
asked of hyperopt's posterior, with a wider good group (TPE_GAMMA below), through
ci.optimize.parzen, which evaluates it without rebuilding it or the trials' documents on every
call; `pchoice` is accepted (hyperopt's `hp.pchoice`, probabilities scaled to add up to 1), and
so are daterange and datetimerange (choices of their values).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hyperopt
import numpy as np

from ci.compile import matrix as expansion
from ci.optimize.history import History, Key, Trial, key, loss
from ci.optimize.hyperopt_space import Label, decode, encode, expression, labels
from ci.optimize.joint import Bounds
from ci.optimize.joint import suggest as joint_suggest
from ci.optimize.parzen import Columns, Posterior
from schemas.spec_matrix import V1Hyperopt

# hyperopt's TPE with two of its defaults changed for searches of tens of trials, chosen on
# objectives other than the benchmark's (six-hump camel, Styblinski-Tang, Rosenbrock, Levy): 10
# random start-up trials, not 20 (a third of a 60-trial budget otherwise goes to random draws),
# and a good group of the best ceil(sqrt(n)) trials, not ceil(sqrt(n) / 4) (at 40 trials 7
# points, not 2, so its density is not a couple of narrow bumps around the luckiest draws).
# A lighter prior (0.25) with 12 candidates looked better on tests/benchmarks/objectives.py's
# tuning set, within its noise, but was much worse on the benchmark's Branin at concurrency 8
# (README, "Benchmarks"): hyperopt's prior weight and candidate count stay.
TPE_STARTUP = 10
TPE_GAMMA = 1.0
TPE_CANDIDATES = 24
TPE_PRIOR_WEIGHT = 1.0
TPE_JOINT = True
JOINT_KINDS = ("uniform", "quniform", "loguniform", "qloguniform")


def good_count(n: int) -> int:
    return math.ceil(TPE_GAMMA * math.sqrt(n))


def tpe_gamma(n: int) -> float:
    """hyperopt's gamma that makes its good group good_count(n) of n trials (hyperopt takes
    ceil(gamma·√n) of them)."""
    n = max(n, 1)
    return (good_count(n) - 0.5) / math.sqrt(n)


ALGORITHMS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "rand": hyperopt.rand.suggest,
    "anneal": hyperopt.anneal.suggest,
}
# Draws of one trial that may land on taken points before falling back to a plain random draw.
REDRAWS = 10
FALLBACK_DRAWS = 1000
# Hyperopt domains kept per thread, one per distinct space, the oldest dropped first.
SPACES_KEPT = 16
JOB_RUNNING, JOB_DONE = hyperopt.JOB_STATE_RUNNING, hyperopt.JOB_STATE_DONE


def _misc(domain: Any, tid: int, vals: dict[str, Any]) -> dict[str, Any]:
    return {
        "tid": tid,
        "cmd": domain.cmd,
        "workdir": domain.workdir,
        "idxs": {label: [tid] for label in vals},
        "vals": {label: [value] for label, value in vals.items()},
    }


def _result(trial: Trial, matrix: V1Hyperopt) -> dict[str, Any]:
    if trial.done and trial.value is not None:
        return {"status": hyperopt.STATUS_OK, "loss": loss(trial.value, matrix.metric)}
    if trial.pending:
        return {"status": hyperopt.STATUS_NEW}
    return {"status": hyperopt.STATUS_FAIL}


def _trials(matrix: V1Hyperopt, history: History, domain: Any, found: list[Label]) -> Any:
    trials = hyperopt.Trials()
    if not history.trials:
        return trials
    # Each doc is built here in the shape new_trial_docs gives, in one pass, from observations
    # already checked: at a thousand observations hyperopt's own conversion and validation of
    # each doc took a third of a suggestion's time and would only repeat the checks.
    cmd, workdir = domain.cmd, domain.workdir
    plain = [(f.label, f.name) for f in found if not f.indexed and f.item is None]
    other = [f for f in found if f.indexed or f.item is not None]
    labels = [f.label for f in found]
    docs = []
    for tid, trial in enumerate(history.trials):
        params = trial.params
        try:
            vals = {label: [float(params[name])] for label, name in plain}
        except KeyError as missing:
            raise ValueError(f"observations[{tid}].params: {missing.args[0]!r} missing") from None
        for label in other:
            vals[label.label] = [encode(label, params, tid)]
        docs.append(
            {
                "state": JOB_RUNNING if trial.pending else JOB_DONE,
                "tid": tid,
                "spec": None,
                "result": _result(trial, matrix),
                "misc": {
                    "tid": tid,
                    "cmd": cmd,
                    "workdir": workdir,
                    "idxs": {label: [tid] for label in labels},
                    "vals": vals,
                },
                "exp_key": None,
                "owner": None,
                "version": 0,
                "book_time": None,
                "refresh_time": None,
            }
        )
    trials._dynamic_trials = docs
    trials.refresh()
    return trials


def _pending(
    trials: Any, domain: Any, found: list[Label], params: dict[str, Any], tid: int
) -> None:
    """Add a suggestion as a running trial before the next is asked, holding the params as
    returned, as a later call will rebuild it from them."""
    vals = {label.label: encode(label, params, tid) for label in found}
    new = [{"status": hyperopt.STATUS_NEW}]
    docs = trials.new_trial_docs([tid], [None], new, [_misc(domain, tid, vals)])
    for doc in docs:
        doc["state"] = hyperopt.JOB_STATE_RUNNING
    trials.insert_trial_docs(docs)
    trials.refresh()


@dataclass
class Space:
    labels: list[Label]
    domain: Any
    posteriors: dict[float, Posterior] = field(default_factory=dict)

    def posterior(self, prior_weight: float) -> Posterior:
        if prior_weight not in self.posteriors:
            self.posteriors[prior_weight] = Posterior(self.domain, prior_weight)
        return self.posteriors[prior_weight]


_SPACES = threading.local()


def _space(matrix: V1Hyperopt) -> Space:
    """The variables, hyperopt domain and TPE graph of a search's params, built once per
    thread: they are functions of the params only (no trial is kept in them), and building
    them took a fifth of a suggestion's time. Per thread, as hyperopt does not say a domain may
    be shared between threads."""
    cache: dict[str, Space] = getattr(_SPACES, "cache", None) or {}
    _SPACES.cache = cache
    space = json.dumps({name: p.model_dump(mode="json") for name, p in matrix.params.items()})
    if space not in cache:
        if len(cache) >= SPACES_KEPT:
            cache.pop(next(iter(cache)))
        found = labels(matrix.params)
        cache[space] = Space(found, hyperopt.Domain(None, {f.label: expression(f) for f in found}))
    return cache[space]


class _ByTrials:
    """rand and anneal, asked through a hyperopt Trials object."""

    def __init__(self, matrix: V1Hyperopt, history: History, space: Space) -> None:
        self.algorithm = ALGORITHMS[matrix.algorithm]
        self.space = space
        self.trials = _trials(matrix, history, space.domain, space.labels)

    def draw(self, tid: int, seed: int) -> dict[str, list[Any]]:
        docs = self.algorithm([tid], self.space.domain, self.trials, seed)
        vals: dict[str, list[Any]] = docs[0]["misc"]["vals"]
        return vals

    def pending(self, tid: int, params: dict[str, Any]) -> None:
        _pending(self.trials, self.space.domain, self.space.labels, params, tid)


class _ByColumns:
    """tpe, asked of its posterior over the observations' columns (ci.optimize.parzen)."""

    def __init__(self, matrix: V1Hyperopt, history: History, space: Space) -> None:
        self.space, self.posterior = space, space.posterior(TPE_PRIOR_WEIGHT)
        found = space.labels
        self.columns = Columns([f.label for f in found])
        plain = [(f.label, f.name) for f in found if not f.indexed and f.item is None]
        other = [f for f in found if f.indexed or f.item is not None]
        values: dict[str, list[Any]] = {f.label: [] for f in found}
        for tid, trial in enumerate(history.trials):
            params = trial.params
            try:
                for column, name in plain:
                    values[column].append(float(params[name]))
            except KeyError as missing:
                raise ValueError(
                    f"observations[{tid}].params: {missing.args[0]!r} missing"
                ) from None
            for variable in other:
                values[variable.label].append(encode(variable, params, tid))
        losses = [
            loss(t.value, matrix.metric) if t.done and t.value is not None else None
            for t in history.trials
        ]
        self.columns.extend(losses, values)
        self.running = sum(1 for t in history.trials if t.pending)
        self.bounds = joint_bounds(found) if TPE_JOINT else None

    def draw(self, tid: int, seed: int) -> dict[str, list[Any]]:
        n = len(self.columns.tids)
        if self.bounds is not None and n >= TPE_STARTUP:
            labels = self.columns.labels
            points = np.array([self.columns.vals[label] for label in labels], dtype=float).T
            found = joint_suggest(
                self.bounds, points, self.columns.losses, seed, running=self.running
            )
            return {label: [value] for label, value in zip(labels, found, strict=True)}
        return self.posterior.suggest(
            self.columns, tid, seed, TPE_STARTUP, TPE_CANDIDATES, tpe_gamma(n)
        )

    def pending(self, tid: int, params: dict[str, Any]) -> None:
        values = {f.label: encode(f, params, tid) for f in self.space.labels}
        self.columns.add(tid, None, values)
        self.running += 1


def joint_bounds(found: list[Label]) -> list[Bounds] | None:
    """The ranges of a space the joint density models (bounded numeric params only), else None."""
    bounds: list[Bounds] = []
    for label in found:
        kind, value = label.param.kind, label.param.value
        if label.indexed or kind not in JOINT_KINDS:
            return None
        if kind in ("loguniform", "qloguniform"):
            low, high = math.exp(value.low), math.exp(value.high)
        else:
            low, high = float(value.low), float(value.high)
        bounds.append(
            Bounds(low, high, log=kind.startswith(("log", "qlog")), q=getattr(value, "q", None))
        )
    return bounds


def trial_seed(seed: int, tid: int, draw: int = 0) -> int:
    """The seed of one trial's draw: the same trial id always draws from the same stream."""
    return int(np.random.SeedSequence([seed % 2**63, tid, draw]).generate_state(1)[0] >> 1)


def suggest(matrix: V1Hyperopt, history: History, n: int, seed: int) -> list[dict[str, Any]]:
    """Up to n new points; `numRuns` × `maxIterations` (or numRuns) trials in all."""
    budget = matrix.num_runs * (matrix.max_iterations or 1) - len(history.trials)
    n = min(n, max(budget, 0))
    if n == 0:
        return []
    space = _space(matrix)
    model = (_ByColumns if matrix.algorithm == "tpe" else _ByTrials)(matrix, history, space)
    names = list(matrix.params)
    taken = history.keys(names)
    suggestions: list[dict[str, Any]] = []
    tid = len(history.trials)
    while len(suggestions) < n:
        params = _draw(model, space.labels, tid, seed, taken, names)
        if params is None:
            params = _fallback(matrix, taken, names, trial_seed(seed, tid, REDRAWS))
        if params is None:
            break
        suggestions.append(params)
        taken.add(key(params, names))
        if len(suggestions) < n:
            model.pending(tid, params)
        tid += 1
    return suggestions


def _draw(
    model: _ByTrials | _ByColumns,
    found: list[Label],
    tid: int,
    seed: int,
    taken: set[Key],
    names: list[str],
) -> dict[str, Any] | None:
    for draw in range(REDRAWS):
        params = decode(found, model.draw(tid, trial_seed(seed, tid, draw)))
        if key(params, names) not in taken:
            return params
    return None


def _fallback(
    matrix: V1Hyperopt, taken: set[Key], names: list[str], seed: int
) -> dict[str, Any] | None:
    """A random untaken point once the algorithm keeps landing on taken ones. None when a listable
    space is exhausted, or when FALLBACK_DRAWS draws from quantized distributions all land on
    taken points: such a space is finite in practice, and spent."""
    rng = random.Random(seed)
    for _ in range(FALLBACK_DRAWS):
        params = {name: expansion.sample(p, rng) for name, p in matrix.params.items()}
        if key(params, names) not in taken:
            return params
    if expansion.space_size(matrix.params) == math.inf:
        return None
    listed = [expansion.values(p) for p in matrix.params.values()]
    for combination in itertools.product(*listed):
        params = dict(zip(matrix.params, combination, strict=True))
        if key(params, names) not in taken:
            return params
    return None
