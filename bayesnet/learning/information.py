"""The observed information of the log posterior at the fitted numbers, and the intervals it gives.

Why not one number at a time
----------------------------
The complete-data counts ``T`` of a number overstate what the cohort says about it: with every
condition labelled, which of the present causes of a present finding fired is still unseen, so a
link trades off against its finding's leak and against the other links of that finding; the
truncation (patients without a presenting finding are never seen) ties the base rates, the context
priors, the risk factors and the presenting findings' numbers together. The interval of a number
must come from the curvature of the *observed-data* log posterior, with the other numbers free
(its marginal), not from its complete-data counts with the others fixed.

The method
----------
The gradient of the observed-data log likelihood is exact at any numbers: by Fisher's identity it
is ``(Z - x T) / (x (1 - x))`` for each native number ``x`` with the E-step's expected counts
(:mod:`bayesnet.learning.statistics`; checked against the likelihood's central differences in the
tests); for an ordered finding's record it is the gradient of that table's expected complete-data
log likelihood (:meth:`~bayesnet.learning.noisy_max.OrderedTable.gradient`). Its forward differences (step ``1e-5 min(x, 1 - x)``) give the Hessian of the observed-data
log likelihood (Louis' observed information, by differences of the exact score), split as

* the cohort's part: when every case has its context and conditions observed, the log likelihood is
  a sum over tables (each finding's leak and links, each condition's leak and risk factors, each
  context prior), the two presenting findings taken as one table (a case without either observed
  couples them), so numbers of different tables are perturbed together and one E-step per
  *colour* (at most the largest table's size) suffices; otherwise one E-step per number;
* the truncation's part ``-N log pi``: from the unseen patient's counts alone (one cheap query per
  number);
* the prior's: analytic, diagonal.

The covariance is the inverse of the negative Hessian of the log posterior over the informed numbers
(those at a range's edge included, as if free: the interval then says how far the data let them
move). Directions with curvature below ``1e-10`` of the largest (numbers the cohort informs only
jointly, such as a presenting finding's link against its condition's base rate) have no
information: a number that loads on one gets an interval from its prior on its range alone. A link
or risk factor is compared on its record's scale, ``1 - (1 - L)(1 - p)``: its variance is the delta
method's over the link and its leak. Each number's marginal variance becomes an effective count
``T* = x (1 - x) (1 / var - prior curvature)`` (capped by the fitting code at the complete-data
count: near zero on a range's edge the quadratic approximation would claim more), and its interval
the central 95% of
``x^(x T*) (1 - x)^((1 - x) T*)`` times its prior on its range (as before, with ``T*`` for ``T``).
A multi-state context prior keeps its one-at-a-time interval.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from bayesnet.inference.evidence import EvidenceBatch
from bayesnet.knowledge.network import NoisyOrNetwork
from bayesnet.learning.statistics import Statistics, expected_statistics

__all__ = ["observed_information", "effective_counts", "FLOOR", "STEP"]

#: relative forward-difference step of the score
STEP = 1e-5
#: curvature below this share of the largest counts as none
FLOOR = 1e-10


def _family(unit, presenting: tuple[int, ...]) -> tuple:
    """The table a unit belongs to (numbers of different tables do not interact in a complete case)."""
    if unit.kind in ("link", "finding_leak"):
        row = unit.index[0]
        return ("finding", -1) if row in presenting else ("finding", row)
    if unit.kind in ("ordered_leak", "ordered_link"):
        return ("ordered", unit.index[0])
    if unit.kind == "condition_leak":
        return ("condition", unit.index[0])
    if unit.kind == "risk":
        return ("condition", unit.index[1])
    return ("context", unit.index[0])


def observed_information(units: Sequence, values: np.ndarray, free: np.ndarray, network_of: Callable,
                         estep: Callable[[NoisyOrNetwork], Statistics], phantom: EvidenceBatch | None,
                         cases: float, complete: bool, score: Callable, prior_curvature: np.ndarray,
                         presenting: tuple[int, ...] = ()) -> np.ndarray:
    """The negative Hessian of the log posterior over the units ``free`` (a boolean mask), in their order.

    ``network_of(values)`` builds the network; ``score(stats, values)`` is the log likelihood's
    gradient over the free units from the E-step's statistics at ``values``; ``complete``: every case
    has its context and conditions observed (the tables separate).
    """
    index = np.flatnonzero(free)
    x0 = values[index]
    h = STEP * np.minimum(x0, 1.0 - x0)

    def data_score(v: np.ndarray) -> np.ndarray:
        return score(estep(network_of(v)), v)

    def truncation_score(v: np.ndarray) -> np.ndarray:
        unseen = expected_statistics(network_of(v), phantom)
        pi = -math.expm1(unseen.log_likelihood)
        return cases * (1.0 - pi) / pi * score(unseen, v)

    count = len(index)
    hessian = np.zeros((count, count))
    families = [_family(units[u], presenting) for u in index]
    if complete:
        colours: list[list[int]] = []
        seen: dict[tuple, int] = {}
        for i, fam in enumerate(families):
            position = seen.get(fam, 0)
            seen[fam] = position + 1
            if position == len(colours):
                colours.append([])
            colours[position].append(i)
    else:
        colours = [[i] for i in range(count)]
    base = data_score(values)
    for colour in colours:
        v = values.copy()
        v[index[colour]] += h[colour]
        moved = data_score(v) - base
        for i in colour:
            rows = [r for r in range(count) if families[r] == families[i]] if complete else range(count)
            hessian[rows, i] += moved[rows] / h[i]
    if phantom is not None:
        base = truncation_score(values)
        for i in range(count):
            v = values.copy()
            v[index[i]] += h[i]
            hessian[:, i] += (truncation_score(v) - base) / h[i]
    information = -0.5 * (hessian + hessian.T) + np.diag(prior_curvature[index])
    return information


def effective_counts(information: np.ndarray, x: np.ndarray, prior_curvature: np.ndarray,
                     reading: np.ndarray | None = None) -> np.ndarray:
    """Each number's effective count ``T*`` from the information matrix (see the module docstring).

    ``reading``: ``(count, count)`` rows of the delta method (the record's derivative with respect to
    each native number, scaled to the number's own native scale); the identity when ``None``.
    """
    eigenvalues, vectors = np.linalg.eigh(information)
    top = float(eigenvalues.max(initial=0.0))
    floor = FLOOR * top if top > 0 else 1.0
    inverse = 1.0 / np.maximum(eigenvalues, floor)
    J = np.eye(len(x)) if reading is None else reading
    projected = J @ vectors
    variance = (projected ** 2) @ inverse
    with np.errstate(divide="ignore"):
        precision = np.where(variance > 0, 1.0 / variance, np.inf)
    data = np.maximum(precision - prior_curvature, 0.0)
    T = x * (1.0 - x) * data
    return np.where(np.isfinite(T), T, 0.0)
