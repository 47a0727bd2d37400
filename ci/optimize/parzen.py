"""hyperopt's TPE asked with the observations as columns, its posterior built once per space.

`hyperopt.tpe.suggest` rebuilds the TPE's pyll graph on every call and reads the history from a
`Trials` object, one document per trial, which it turns back into columns (`miscs_to_idxs_vals`).
A search rebuilds its whole history on each call, so at a thousand observations those documents
and that graph were most of a suggestion's time. Here the graph is built once per space, with
the good group's share (gamma) a node given at each call like the observations, and the
observations are kept as the columns hyperopt reads. What is evaluated is hyperopt's own
posterior (`build_posterior`: the split into good and bad trials, the adaptive Parzen
estimators, the best of the candidates drawn from the good one), with the same random stream
for a given seed, so a point is the one `hyperopt.tpe.suggest` gives for the same trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import hyperopt
import numpy as np
from hyperopt import pyll

# A Trials with no history: what hyperopt.rand.suggest writes its (discarded) document into.
_NO_TRIALS = hyperopt.Trials()


@dataclass
class Columns:
    """The trials so far as hyperopt's columns: ids, losses (inf for a pending or failed trial,
    as hyperopt counts one), and each variable's ids and values."""

    labels: list[str]
    tids: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    idxs: dict[str, list[int]] = field(default_factory=dict)
    vals: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.idxs = {label: [] for label in self.labels}
        self.vals = {label: [] for label in self.labels}

    def extend(self, losses: list[float | None], values: dict[str, list[Any]]) -> None:
        """Trials numbered on from the last, each variable's values given as a column."""
        tids = list(range(len(self.tids), len(self.tids) + len(losses)))
        self.tids += tids
        self.losses += [math.inf if loss is None else loss for loss in losses]
        for label in self.labels:
            self.idxs[label] += tids
            self.vals[label] += values[label]

    def add(self, tid: int, loss: float | None, values: dict[str, Any]) -> None:
        self.tids.append(tid)
        self.losses.append(math.inf if loss is None else loss)
        for label in self.labels:
            self.idxs[label].append(tid)
            self.vals[label].append(values[label])


class Posterior:
    """hyperopt's TPE graph for one domain, with placeholders for what changes per call."""

    def __init__(self, domain: Any, prior_weight: float) -> None:
        self.domain = domain
        self.obs_idxs, self.obs_vals = pyll.Literal(), pyll.Literal()
        self.loss_idxs, self.loss_vals = pyll.Literal(), pyll.Literal()
        self.gamma = pyll.Literal()
        self.graph = hyperopt.tpe.build_posterior(
            domain.vh.v_expr,
            domain.vh.idxs_by_label(),
            domain.vh.vals_by_label(),
            self.obs_idxs,
            self.obs_vals,
            self.loss_idxs,
            self.loss_vals,
            self.gamma,
            pyll.Literal(float(prior_weight)),
        )

    def suggest(
        self, columns: Columns, new_id: int, seed: int, startup: int, candidates: int, gamma: float
    ) -> dict[str, list[Any]]:
        """One trial's values, by label, as hyperopt.tpe.suggest draws them (random while fewer
        than `startup` trials exist, pending ones included, as hyperopt counts them)."""
        domain = self.domain
        if len(columns.tids) < startup:
            docs = hyperopt.rand.suggest([new_id], domain, _NO_TRIALS, seed)
            found: dict[str, list[Any]] = docs[0]["misc"]["vals"]
            return found
        first = max(max(columns.tids), new_id) + 2
        fake_ids = list(range(first, first + candidates))
        memo = {
            domain.s_new_ids: fake_ids,
            domain.s_rng: np.random.default_rng(seed),
            self.loss_idxs: columns.tids,
            self.loss_vals: columns.losses,
            self.obs_idxs: columns.idxs,
            self.obs_vals: columns.vals,
            self.gamma: gamma,
        }
        idxs, vals = pyll.rec_eval(self.graph, memo=memo, print_node_on_error=False)
        values: dict[str, list[Any]] = {}
        for label, param in domain.params.items():
            if fake_ids[0] not in idxs[label]:
                values[label] = []  # a variable the drawn point does not use
                continue
            value = vals[label][list(idxs[label]).index(fake_ids[0])]
            # hyperopt.tpe.suggest's own correction of a randint with a lower bound.
            if param.name == "randint" and len(param.pos_args) == 2:
                value += param.pos_args[0].obj
            values[label] = [value]
        return values
