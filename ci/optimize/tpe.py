"""The `hyperopt` kind: hyperopt's tpe, rand or anneal, asked one trial at a time.

The trials are rebuilt from the observations on every call (as polyaxon/hypertune's
search_managers/hyperopt/manager.py does): a succeeded trial is `ok` with its loss (a maximized
metric negated), a failed one is `fail` and a running one `new`. hyperopt 0.3's TPE gives both an
infinite loss, so it counts a failed point among the worst and a running point as pending; each
suggestion made in this call joins the trials as a running one before the next is asked. The
seed of each trial is derived from the search's seed and the trial's id, so one call of n
suggestions and n calls of one give the same points. A point already taken is drawn again with
the next seed; a listable space with no point left gives fewer suggestions.

Unlike Polyaxon, TPE starts modelling after 10 trials, not 20, and its good group is wider
(TPE_STARTUP, TPE_GAMMA below); `pchoice` is accepted (hyperopt's `hp.pchoice`, probabilities
scaled to add up to 1), and so are daterange and datetimerange (choices of their values).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import hyperopt
import numpy as np
from hyperopt import hp

from ci.compile import matrix as expansion
from ci.optimize.history import History, Key, Trial, key, loss
from schemas.spec_hp import HpKind, V1HpPChoice, is_finite
from schemas.spec_matrix import V1Hyperopt

# hyperopt's TPE, with two of its defaults changed for searches of tens of trials: 10 random
# start-up trials instead of 20 (a third of a 60-trial budget otherwise goes to random draws),
# and gamma 1.0 instead of 0.25, so the "good" group is the best ceil(sqrt(n)) trials instead of
# ceil(sqrt(n) / 4): at 40 trials that is 7 points, not 2, so the good density is not a
# couple of narrow bumps around the luckiest draws. Chosen on objectives other than the
# benchmark's (six-hump camel, Styblinski-Tang 4-d, Rosenbrock 3-d, Levy 5-d), where it cut the
# median regret at 60 trials by 20% to 65% against the defaults.
TPE_STARTUP = 10
TPE_GAMMA = 1.0


def _tpe(new_ids: list[int], domain: Any, trials: Any, seed: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = hyperopt.tpe.suggest(
        new_ids, domain, trials, seed, n_startup_jobs=TPE_STARTUP, gamma=TPE_GAMMA
    )
    return found


ALGORITHMS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "tpe": _tpe,
    "rand": hyperopt.rand.suggest,
    "anneal": hyperopt.anneal.suggest,
}
# Draws of one trial that may land on taken points before falling back to a plain random draw.
REDRAWS = 10
FALLBACK_DRAWS = 1000
# Hyperopt domains kept per thread, one per distinct space, the oldest dropped first.
SPACES_KEPT = 16


@dataclass(frozen=True)
class Label:
    """One hyperopt variable: a param, or one item of a distribution drawn with `size`."""

    label: str
    name: str
    item: int | None
    param: HpKind
    # A listable param's values, which hyperopt knows by their index.
    options: tuple[Any, ...] = ()
    positions: dict[Any, int] = field(default_factory=dict)

    @property
    def indexed(self) -> bool:
        return bool(self.options)

    def position(self, value: Any) -> int | None:
        try:
            if self.positions:
                return self.positions.get(value)
        except TypeError:  # an unhashable value, such as a list
            pass
        return self.options.index(value) if value in self.options else None


def labels(params: Mapping[str, HpKind]) -> list[Label]:
    found: list[Label] = []
    for name, param in params.items():
        count = getattr(param.value, "size", None)
        if count and not param.DISCRETE:
            found += [Label(f"{name}[{i}]", name, i, param) for i in range(count)]
        elif is_finite(param) or isinstance(param, V1HpPChoice):
            options = tuple(expansion.values(param))
            positions: dict[Any, int] = {}
            for index, option in enumerate(options):
                try:
                    positions.setdefault(option, index)
                except TypeError:
                    positions = {}
                    break
            found.append(Label(name, name, None, param, options, positions))
        else:
            found.append(Label(name, name, None, param))
    return found


def expression(label: Label) -> Any:
    """The hyperopt expression of one variable (polyaxon/hypertune's matrix/hyperopt.py)."""
    param, v, name = label.param, label.param.value, label.label
    if isinstance(param, V1HpPChoice):
        total = sum(p for _, p in v)
        return hp.pchoice(name, [(p / total, index) for index, (_, p) in enumerate(v)])
    if is_finite(param):
        return hp.choice(name, list(range(expansion.size(param))))
    kinds: dict[str, Callable[[], Any]] = {
        "uniform": lambda: hp.uniform(name, v.low, v.high),
        "quniform": lambda: hp.quniform(name, v.low, v.high, v.q),
        "loguniform": lambda: hp.loguniform(name, v.low, v.high),
        "qloguniform": lambda: hp.qloguniform(name, v.low, v.high, v.q),
        "normal": lambda: hp.normal(name, v.loc, v.scale),
        "qnormal": lambda: hp.qnormal(name, v.loc, v.scale, v.q),
        "lognormal": lambda: hp.lognormal(name, v.loc, v.scale),
        "qlognormal": lambda: hp.qlognormal(name, v.loc, v.scale, v.q),
    }
    return kinds[param.kind]()


def _encode(label: Label, params: Any, index: int) -> Any:
    if label.name not in params:
        raise ValueError(f"observations[{index}].params: {label.name!r} missing")
    value = params[label.name] if label.item is None else params[label.name][label.item]
    if not label.indexed:
        return float(value)
    found = label.position(value)
    if found is not None:
        return found
    options = label.options
    if isinstance(value, int | float) and all(isinstance(o, int | float) for o in options):
        return min(range(len(options)), key=lambda i: abs(options[i] - value))
    raise ValueError(
        f"observations[{index}].params.{label.name}: {value!r} is not one of {list(options)}"
    )


def _decode(found: list[Label], vals: dict[str, list[Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for label in found:
        raw = vals[label.label][0]
        value = label.options[int(raw)] if label.indexed else expansion.tidy(float(raw))
        if label.item is None:
            params[label.name] = value
        else:
            params.setdefault(label.name, []).append(value)
    return params


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
    miscs, results = [], []
    cmd, workdir = domain.cmd, domain.workdir
    for tid, trial in enumerate(history.trials):
        # _misc's shape, built in one pass: this loop is a third of a suggestion's time at a
        # thousand observations.
        miscs.append(
            {
                "tid": tid,
                "cmd": cmd,
                "workdir": workdir,
                "idxs": {label.label: [tid] for label in found},
                "vals": {label.label: [_encode(label, trial.params, tid)] for label in found},
            }
        )
        results.append(_result(trial, matrix))
    tids = list(range(len(history.trials)))
    docs = trials.new_trial_docs(tids, [None] * len(tids), results, miscs)
    for doc, trial in zip(docs, history.trials, strict=True):
        doc["state"] = hyperopt.JOB_STATE_RUNNING if trial.pending else hyperopt.JOB_STATE_DONE
    # The docs are built here from checked observations, in the shape new_trial_docs gives:
    # insert_trial_docs' per-doc conversion and validation would only repeat that.
    trials._insert_trial_docs(docs)
    trials.refresh()
    return trials


def _pending(
    trials: Any, domain: Any, found: list[Label], params: dict[str, Any], tid: int
) -> None:
    """Add a suggestion as a running trial before the next is asked, holding the params as
    returned, as a later call will rebuild it from them."""
    vals = {label.label: _encode(label, params, tid) for label in found}
    new = [{"status": hyperopt.STATUS_NEW}]
    docs = trials.new_trial_docs([tid], [None], new, [_misc(domain, tid, vals)])
    for doc in docs:
        doc["state"] = hyperopt.JOB_STATE_RUNNING
    trials.insert_trial_docs(docs)
    trials.refresh()


_SPACES = threading.local()


def _space(matrix: V1Hyperopt) -> tuple[list[Label], Any]:
    """The variables and hyperopt domain of a search's params, built once per thread: the
    domain is a function of the params only (no trial is kept in it), and building it is a
    twentieth of a suggestion's time. Per thread, as hyperopt does not say a domain may be
    shared between threads."""
    cache: dict[str, tuple[list[Label], Any]] = getattr(_SPACES, "cache", None) or {}
    _SPACES.cache = cache
    space = json.dumps({name: p.model_dump(mode="json") for name, p in matrix.params.items()})
    if space not in cache:
        if len(cache) >= SPACES_KEPT:
            cache.pop(next(iter(cache)))
        found = labels(matrix.params)
        cache[space] = found, hyperopt.Domain(None, {f.label: expression(f) for f in found})
    return cache[space]


def trial_seed(seed: int, tid: int, draw: int = 0) -> int:
    """The seed of one trial's draw: the same trial id always draws from the same stream."""
    return int(np.random.SeedSequence([seed % 2**63, tid, draw]).generate_state(1)[0] >> 1)


def suggest(matrix: V1Hyperopt, history: History, n: int, seed: int) -> list[dict[str, Any]]:
    """Up to n new points; `numRuns` × `maxIterations` (or numRuns) trials in all."""
    budget = matrix.num_runs * (matrix.max_iterations or 1) - len(history.trials)
    n = min(n, max(budget, 0))
    found, domain = _space(matrix)
    trials = _trials(matrix, history, domain, found)
    algorithm = ALGORITHMS[matrix.algorithm]
    names = list(matrix.params)
    taken = history.keys(names)
    suggestions: list[dict[str, Any]] = []
    tid = len(history.trials)
    while len(suggestions) < n:
        params = _draw(algorithm, domain, trials, found, tid, seed, taken, names)
        if params is None:
            params = _fallback(matrix, taken, names, trial_seed(seed, tid, REDRAWS))
        if params is None:
            break
        suggestions.append(params)
        taken.add(key(params, names))
        if len(suggestions) < n:
            _pending(trials, domain, found, params, tid)
        tid += 1
    return suggestions


def _draw(
    algorithm: Callable[..., Any],
    domain: Any,
    trials: Any,
    found: list[Label],
    tid: int,
    seed: int,
    taken: set[Key],
    names: list[str],
) -> dict[str, Any] | None:
    for draw in range(REDRAWS):
        docs = algorithm([tid], domain, trials, trial_seed(seed, tid, draw))
        params = _decode(found, docs[0]["misc"]["vals"])
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
