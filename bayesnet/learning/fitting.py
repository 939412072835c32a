"""Fit the network's numbers to a cohort: expectation-maximisation towards the posterior mode.

The model
---------
Each case is a patient of the population (some presenting finding present). Its context,
conditions and findings are observed where the cohort has a state and latent where the cell is
empty (missing is missing, never absent). The likelihood of a cohort is
``prod_c P(e_c | population) = prod_c P(e_c) / pi`` with ``pi`` the probability of the population.

The prior
---------
Every record's current value and range is its prior, the distribution that the second-order Monte
Carlo draws from (:mod:`bayesnet.analysis.montecarlo`): Beta(n + 1, N - n + 1) from counts, a PERT
on ``[low, high]`` with its mode at the value (verbal, reported and derived values, and earlier
fits), uniform on ``[low, high]`` (assumed values). For a link or a risk factor, written as
P(effect | this cause alone) ``v``, the prior is carried to the native link
``p = 1 - (1 - v) / (1 - L0)`` with the effect's prior leak ``L0`` (an affine map, so a PERT stays a
scaled Beta). In addition every fitted record stays within its ``[low, high]`` (with the fitted leak):
the ranges are the prior's support.

The algorithm
-------------
EM for the maximum a posteriori numbers (Dempster, Laird & Rubin 1977):

* **E-step** (:mod:`bayesnet.learning.statistics`): exact expected counts of every activation of every
  noisy-OR table, from the exact engine's posteriors. The population is a truncation: the patients
  of the care setting without a presenting finding are never seen. As in DLR's truncated-data
  example, each of the ``N`` cases stands for ``(1 - pi) / pi`` unseen patients in expectation, whose
  evidence is "every presenting finding absent"; their expected counts are added with that weight.
* **M-step**: each native number maximises its expected complete-data log likelihood
  ``Z log x + (T - Z) log(1 - x)`` plus its log prior, within its range (a one-dimensional concave
  problem, solved by bisection on the derivative). A link's range depends on its effect's leak
  (the record ``1 - (1 - L)(1 - p)`` must stay within ``[low, high]``), so each leak is chosen with
  its links: on two grids of candidate leaks that hold the current one, the leak's objective plus
  each link's best value given it; then the links given the new leaks. A multi-state context prior
  is solved on the simplex (a Lagrange multiplier found by bisection), and kept if it does not
  improve its part of the objective.

Each step maximises its part of the expected complete-data log posterior over a set that contains
the current numbers, so the **log posterior** ``sum_c log P(e_c) - N log pi + sum log prior`` never
decreases (a generalised EM).

**Acceleration** (SQUAREM, Varadhan & Roland 2008, scheme SqS3, with their step-length control):
plain EM crawls along the directions the unseen patients dominate (base rates, context priors), so
each cycle takes two EM steps ``theta1 = F(theta0)``, ``theta2 = F(theta1)`` and the extrapolated point
``theta0 - 2 a r + a^2 v`` (``r = theta1 - theta0``, ``v = theta2 - 2 theta1 + theta0``,
``a = -|r| / |v|``, at most ``-1`` and at least ``-step_max``; ``step_max`` starts at 1, grows
fourfold when the step reaches it and shrinks fourfold when the point is refused). The point is
moved into the set the M-step searches (leaks and context priors clipped to their ranges, then
links to their records' ranges given their leaks; a multi-state prior out of its ranges takes
``theta2``'s) and its log posterior computed by an E-step (whose counts serve the next M-step). It
is kept only if its log posterior is at least ``theta2``'s, else the cycle ends at ``theta2``: every
point kept is at least as good as the one before, so the log posterior still never decreases.
``accelerate=False`` runs plain EM steps.

**Stopping rule**: stop when a cycle (accelerated) or a step (plain) raises the log posterior by
less than ``tolerance`` nats per case (default 1e-6), or when its first EM step does; or after
``max_iterations`` E-steps after the first (default 200). An E-step is the unit of cost, so
``FitResult.iterations`` counts E-steps, and ``FitResult.log_posterior`` holds the log posterior of
each point kept (a refused extrapolation costs an E-step and adds no point).

An ordered finding's records (a leaky noisy-MAX) are fitted on their own scale, P(state | this cause
alone) and the leak's P(state): the E-step counts the draws of the leak and of each present cause,
and the M-step raises the table's expected log likelihood plus the records' log prior one record at
a time within the ranges (:mod:`bayesnet.learning.noisy_max`). Not fitted: records with a zero-width
range. A number whose table no case observes (``T = 0``) keeps its value.

Intervals and counts
--------------------
A fitted record's ``n`` and ``N`` are its rounded expected counts ``Z`` and ``T`` over the cohort's
cases (not the unseen patients): the cases in which the cause was present with its effect observed,
and those in which it produced the effect (for a context prior: the cases in that state, of all).
Its 95% interval (``intervals="observed"``, the default) comes from the observed information of the
log posterior, every other number free (:mod:`bayesnet.learning.information`): the marginal
variance becomes an effective count ``T*`` (at most the complete-data count, the unseen patients'
included: the missing information only takes away), and the interval is the central 95% of
``x^(x T*) (1 - x)^((1 - x) T*)`` times its prior on its range, widened to hold the fitted value.
It takes one E-step per table colour (at most the largest table's size) when every case has its
context and conditions observed, and one E-step per fitted number otherwise. ``intervals="complete"``
uses ``T`` for ``T*``: one number at a time, the others fixed, the activations treated as seen, so
it is too narrow (it leaves out the trade-off of a link with its leak and with the other links of
its finding, and the truncation's ties between base rates and presenting findings).

A record is *informed*, and fitted, when ``T > 0`` in the first E-step (the table's ``informed``; an
ordered finding's record needs ``T`` of at least ``MIN_TRIALS`` cases, as its records are found
jointly under constraints and a table whose cause the cohort all but never holds has no unique best);
the others keep their readings, with one exception: the leak of a finding may rise past the value of
a link that no case informs (up to that link's ``high``), and that link's native number is then 0,
its reading the leak; the table shows it as fitted (``informed`` false, ``n = N = 0``, interval from
the new reading to its ``high``). A link whose record equals its leak (native number 0, which EM
cannot leave: it fires in no case) starts in the middle of its range.

Plain EM converges slowly for the numbers that the unseen patients dominate (base rates, context
priors: each case stands for about ``(1 - pi) / pi`` unseen patients, whose counts follow the
current numbers); that is what the acceleration is for.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesnet.errors import BayesnetError
from bayesnet.inference.engine import ExactEngine
from bayesnet.inference.evidence import EvidenceBatch, encode_evidence
from bayesnet.knowledge.base import BINARY, KnowledgeBase, Parameter
from bayesnet.knowledge.network import NoisyOrNetwork, ParameterLocation, alone_from_cause, derive_rows, \
    link_from_value
from bayesnet.learning.information import effective_counts, observed_information
from bayesnet.learning.noisy_max import MIN_TRIALS, ORDERED_KINDS, ordered_tables, tables_of
from bayesnet.learning.statistics import Statistics, complete_cases, expected_statistics

__all__ = ["FitResult", "fit_network", "prior_shape", "Unit", "units_of", "readings", "network_with", "log_prior",
           "EStep", "TOLERANCE", "MAX_ITERATIONS"]

TOLERANCE = 1e-6
MAX_ITERATIONS = 200
#: bisection steps of the one-dimensional M-step (the interval shrinks by 2^-64)
BISECTION = 64


def prior_shape(p: Parameter) -> tuple[str, float, float, float, float]:
    """The prior of a record on its own scale: ``(distribution, alpha, beta, A, B)``, a Beta(alpha,
    beta) scaled to ``[A, B]`` (as the Monte Carlo draws it; ``fitted`` rows: a PERT on their interval)."""
    if p.high == p.low:
        return "fixed", 1.0, 1.0, p.low, p.high
    if p.kind == "fitted" or p.n is None or p.N is None:
        if p.kind == "assumed":
            return "uniform", 1.0, 1.0, p.low, p.high
        width = p.high - p.low
        return "pert", 1.0 + 4.0 * (p.value - p.low) / width, 1.0 + 4.0 * (p.high - p.value) / width, p.low, p.high
    return "beta", float(p.n + 1), float(p.N - p.n + 1), 0.0, 1.0


@dataclass(frozen=True)
class Unit:
    """One record as a native number to fit.

    ``kind``: ``context`` (binary context prior), ``simplex`` (a state of a multi-state context
    node), ``condition_leak``, ``risk``, ``finding_leak``, ``link``, ``ordered_leak`` (index
    ``(o, s)``), ``ordered_link`` (index ``(o, j, s)``) or ``held`` (not fitted).
    ``alpha, beta, A, B``: the prior on the native scale; ``leak_record``: the index of the
    effect's leak record (links and risk factors).
    """

    record: int
    kind: str
    index: tuple[int, ...]
    distribution: str
    alpha: float
    beta: float
    A: float
    B: float
    low: float
    high: float
    leak_record: int | None = None


def units_of(knowledge: KnowledgeBase, locations: Sequence[ParameterLocation], network: NoisyOrNetwork) -> list[Unit]:
    """Every record of the knowledge base as a :class:`Unit`."""
    params = knowledge.parameters
    leak_of = {p.node: r for r, p in enumerate(params) if p.role in ("condition_leak", "finding_leak") and p.state is None}
    units = []
    for r, (p, loc) in enumerate(zip(params, locations)):
        dist, alpha, beta, A, B = prior_shape(p)
        kind = {"context_prior": "context", "condition_leak": "condition_leak", "risk": "risk",
                "finding_leak": "finding_leak", "link": "link", "ordered_leak": "ordered_leak",
                "ordered_link": "ordered_link"}.get(loc.array, "held")
        if kind == "context" and network.context_states[loc.index[0]] != BINARY:
            kind = "simplex"
        leak_record = None
        if kind in ("risk", "link"):
            leak_record = leak_of[p.node]
            L0 = params[leak_record].value
            A, B = float(link_from_value(A, L0)), float(link_from_value(B, L0))
        units.append(Unit(r, kind, loc.index, dist, alpha, beta, A, B, p.low, p.high, leak_record))
    return units


def readings(knowledge: KnowledgeBase, locations: Sequence[ParameterLocation], network: NoisyOrNetwork) -> np.ndarray:
    """Every record's reading in ``network`` (for a link, P(effect | its cause alone), leak included),
    in the order of :func:`units_of`; NaN where a record is not fitted."""
    units = units_of(knowledge, locations, network)
    by_record = {unit.record: unit for unit in units}
    out = np.full(len(units), np.nan)
    for u, unit in enumerate(units):
        if unit.kind == "held":
            continue
        x = _native(network, unit)
        if unit.leak_record is not None:
            leak = _native(network, by_record[unit.leak_record])
            x = leak + (1 - leak) * x
        out[u] = x
    return out


def _native(network: NoisyOrNetwork, unit: Unit) -> float:
    idx = unit.index
    if unit.kind in ("context", "simplex"):
        return float(network.context_prior[idx[0]][idx[1]])
    if unit.kind == "risk":
        return float(network.risk[idx[0]][idx[1], idx[2]])
    if unit.kind == "condition_leak":
        return float(network.condition_leak[idx[0]])
    if unit.kind == "finding_leak":
        return float(network.finding_leak[idx[0]])
    if unit.kind == "link":
        return float(network.link[idx])
    if unit.kind == "ordered_leak":
        return float(network.ordered[idx[0]].leak[idx[1]])
    if unit.kind == "ordered_link":
        finding = network.ordered[idx[0]]
        return float(alone_from_cause(finding.cause, finding.leak)[idx[1], idx[2]])
    return math.nan


def network_with(network: NoisyOrNetwork, units: Sequence[Unit], values: np.ndarray) -> NoisyOrNetwork:
    """``network`` with each fitted unit's native number set to ``values[u]`` (held units and NaN skipped);
    the derived rows (the population's) follow."""
    prior = [p.copy() for p in network.context_prior]
    risk = [r.copy() for r in network.risk]
    condition_leak = network.condition_leak.copy()
    finding_leak = network.finding_leak.copy()
    link = network.link.copy()
    for unit, x in zip(units, values):
        if unit.kind == "held" or unit.kind in ORDERED_KINDS or not np.isfinite(x):
            continue
        idx = unit.index
        if unit.kind == "context":
            prior[idx[0]][idx[1]] = x
            prior[idx[0]][1 - idx[1]] = 1.0 - x
        elif unit.kind == "simplex":
            prior[idx[0]][idx[1]] = x
        elif unit.kind == "risk":
            risk[idx[0]][idx[1], idx[2]] = x
        elif unit.kind == "condition_leak":
            condition_leak[idx[0]] = x
        elif unit.kind == "finding_leak":
            finding_leak[idx[0]] = x
        else:
            link[idx] = x
    for k, p in enumerate(prior):
        if network.context_states[k] != BINARY:
            prior[k] = p / p.sum()
    out = network.with_parameters(context_prior=tuple(prior), risk=tuple(risk), condition_leak=condition_leak)
    tables = tables_of(network, units)
    if tables:
        out = out.with_ordered(ordered_tables(network, tables, values))
    derive_rows(out, link, finding_leak)
    return out.with_parameters(link=link, finding_leak=finding_leak)


def _log_density(x: np.ndarray, a, b, alpha, beta, A, B) -> np.ndarray:
    """``a log x + b log(1 - x) + (alpha - 1) log(x - A) + (beta - 1) log(B - x)`` (0 log 0 = 0)."""
    def term(c, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(c != 0, c * np.log(np.maximum(y, 0.0)), 0.0)
    return term(a, x) + term(b, 1.0 - x) + term(alpha - 1.0, x - A) + term(beta - 1.0, B - x)


def _ratio(c, y) -> np.ndarray:
    """``c / y`` where ``c != 0``, else 0 (so a zero count never meets a zero distance)."""
    c, y = np.broadcast_arrays(np.asarray(c, float), np.asarray(y, float))
    out = np.zeros(c.shape)
    np.divide(c, y, out=out, where=c != 0)
    return out


def _slope(x, a, b, alpha, beta, A, B, lam=0.0):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _ratio(a, x) - _ratio(b, 1.0 - x) + _ratio(alpha - 1.0, x - A) - _ratio(beta - 1.0, B - x) - lam


def _maximise(a, b, alpha, beta, A, B, lo, hi, lam=0.0, steps: int = BISECTION):
    """The maximiser of ``_log_density(x) - lam x`` on ``[lo, hi]`` (elementwise; the function is concave)."""
    lo, hi = np.asarray(lo, float).copy(), np.asarray(hi, float).copy()
    left, right = lo.copy(), hi.copy()
    at_lo = _slope(lo, a, b, alpha, beta, A, B, lam) <= 0
    at_hi = _slope(hi, a, b, alpha, beta, A, B, lam) >= 0
    for _ in range(steps):
        mid = 0.5 * (left + right)
        up = _slope(mid, a, b, alpha, beta, A, B, lam) > 0
        left = np.where(up, mid, left)
        right = np.where(up, right, mid)
    return np.where(at_lo, lo, np.where(at_hi, hi, 0.5 * (left + right)))


def _record_box(unit: Unit, leak: float) -> tuple[float, float]:
    """The native values that keep the record within ``[low, high]`` (links: given the effect's leak)."""
    if unit.kind in ("risk", "link"):
        lo, hi = (float(link_from_value(v, leak)) for v in (unit.low, unit.high))
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    else:
        lo, hi = unit.low, unit.high
    return max(lo, unit.A), min(hi, unit.B)


def log_prior(units: Sequence[Unit], values: np.ndarray, informed: np.ndarray | None = None) -> float:
    """The log prior density of the native numbers (up to a constant), summed over the fitted units
    (those ``informed`` by the cohort, when given)."""
    total = 0.0
    for u, (unit, x) in enumerate(zip(units, values)):
        if unit.kind == "held" or unit.distribution == "fixed" or (informed is not None and not informed[u]):
            continue
        total += float(_log_density(np.float64(x), 0.0, 0.0, unit.alpha, unit.beta, unit.A, unit.B))
    return total


class EStep:
    """Computes the statistics of the cohort under a network: ``__call__(network) -> Statistics``.

    The default works on encoded pandas frames (a list of :class:`EvidenceBatch` chunks); a Dask
    cohort supplies its own (see :mod:`bayesnet.learning.dask`).
    """

    def __init__(self, batches: Sequence[EvidenceBatch], labels: Sequence[Sequence] | None = None,
                 progress: Callable[[int], None] | None = None):
        self.batches = list(batches)
        self.labels = labels
        self.progress = progress
        #: every case has its context and conditions observed
        self.complete = all(bool(complete_cases(b).all()) for b in self.batches)

    @property
    def cases(self) -> int:
        return sum(len(b) for b in self.batches)

    def __call__(self, network: NoisyOrNetwork) -> Statistics:
        engine = ExactEngine(network)
        total = Statistics.zeros(network)
        for b, batch in enumerate(self.batches):
            labels = self.labels[b] if self.labels is not None else None
            total = total + expected_statistics(network, batch, engine=engine, labels=labels)
            if self.progress is not None:
                self.progress(len(batch))
        return total


@dataclass
class FitResult:
    """The fitted network and what changed.

    Attributes
    ----------
    network
        The network with the fitted numbers.
    table
        One row per record, indexed by parameter name: ``role, fitted`` (whether it was updated),
        ``informed`` (whether the cohort informs it), ``prior_kind, prior_value, prior_low, prior_high``, ``value, low, high`` (the fitted reading
        and its 95% interval; the prior's where not fitted), ``n, N`` (effective counts),
        ``distribution`` (the prior's) and ``at_edge`` (the fitted value sits on its range's edge).
    log_posterior
        The log posterior of each point EM kept, non-decreasing (the first entry: the starting numbers').
    seconds
        The time of each iteration (an E-step and the M-step or extrapolation after it).
    converged
        Whether the stopping rule was met before ``max_iterations``.
    cases
        The number of cases.
    """

    network: NoisyOrNetwork
    table: pd.DataFrame
    log_posterior: list[float]
    seconds: list[float]
    converged: bool
    cases: int
    values: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    #: the cohort's name, written into the notes of the fitted rows
    name: str = "cohort"
    #: the knowledge base the fit started from
    knowledge: KnowledgeBase | None = field(repr=False, default=None)
    #: the time taken by the intervals' observed information
    interval_seconds: float = 0.0
    #: ``table`` with every interval from its number's complete-data counts alone (for comparison)
    one_at_a_time: pd.DataFrame | None = field(repr=False, default=None)

    def write(self, folder) -> Path:
        """Write the fitted knowledge base into ``folder`` (new or empty): see :mod:`bayesnet.learning.writer`."""
        from bayesnet.learning.writer import write_fitted

        if self.knowledge is None:
            raise BayesnetError("this fit does not know the knowledge base it started from")
        return write_fitted(self.knowledge, self, folder)

    @property
    def iterations(self) -> int:
        return len(self.seconds)


def _phantom(network: NoisyOrNetwork) -> EvidenceBatch | None:
    """The evidence of an unseen patient of the care setting: every presenting finding absent."""
    names = [network.findings[i] for i in network.presenting]
    if not names:
        return None
    encoded = encode_evidence(network, {n: "absent" for n in names}, population=False)
    return EvidenceBatch.stack([encoded])


def fit_network(knowledge: KnowledgeBase, network: NoisyOrNetwork, locations: Sequence[ParameterLocation],
                estep: Callable[[NoisyOrNetwork], Statistics], cases: int, *, max_iterations: int = MAX_ITERATIONS,
                tolerance: float = TOLERANCE, progress: Callable[[int, float], None] | None = None,
                accelerate: bool = True, intervals: str = "observed") -> FitResult:
    """Run EM from ``network`` (see the module docstring) with the E-step ``estep`` on ``cases`` cases.

    ``accelerate``: SQUAREM cycles with the monotone safeguard (the default), or plain EM steps.
    ``max_iterations`` bounds the number of E-steps after the first (each is an iteration).
    ``intervals``: ``observed`` (from the observed information, the default) or ``complete`` (one
    number at a time from its complete-data counts: cheaper, and too narrow)."""
    if intervals not in ("observed", "complete"):
        raise BayesnetError(f"intervals must be 'observed' or 'complete', got {intervals!r}")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, (int, np.integer)) or max_iterations < 1:
        raise BayesnetError(f"max_iterations must be a positive whole number, got {max_iterations!r}")
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise BayesnetError(f"tolerance must be a number >= 0 (nats per case), got {tolerance!r}")
    if cases < 1:
        raise BayesnetError("the cohort has no cases to fit")
    units = units_of(knowledge, locations, network)
    values = _start(units, np.array([_native(network, u) for u in units]))
    phantom = _phantom(network)
    informed: np.ndarray | None = None
    history: list[float] = []
    seconds: list[float] = []
    clock = [time.perf_counter()]

    def evaluate(x: np.ndarray) -> tuple[float, Statistics, Statistics]:
        """The log posterior at native numbers ``x``, the M-step's statistics (the unseen patients
        included) and the cohort's own."""
        nonlocal informed
        current = network_with(network, units, x)
        stats = estep(current)
        seen = stats
        log_posterior = stats.log_likelihood
        if phantom is not None:
            unseen = expected_statistics(current, phantom)
            pi = -math.expm1(unseen.log_likelihood)                                   # P(population)
            if not pi > 0:
                raise BayesnetError("the population has probability zero under the current numbers")
            log_posterior -= stats.cases * math.log(pi)
            stats = stats + unseen.scaled(stats.cases * (1.0 - pi) / pi)
        if informed is None:
            informed = np.array([_stats_of(u, seen)[1] > (MIN_TRIALS if u.kind in ORDERED_KINDS else 0.0) for u in units])
        return log_posterior + log_prior(units, x, informed), stats, seen

    def update(x: np.ndarray, stats: Statistics) -> np.ndarray:
        return _m_step(network_with(network, units, x), knowledge, units, x, stats, informed)  # type: ignore[arg-type]

    def tick(log_posterior: float) -> None:
        now = time.perf_counter()
        seconds.append(now - clock[0])
        clock[0] = now
        if progress is not None:
            progress(len(seconds), log_posterior)

    log_posterior, stats, seen = evaluate(values)
    history.append(log_posterior)
    assert informed is not None
    moving = informed & np.array([u.kind != "held" and u.distribution != "fixed" for u in units])
    converged = False
    step_max = 1.0
    while len(seconds) < max_iterations:
        start_value, theta0 = history[-1], values
        theta1 = update(theta0, stats)                                     # a plain EM step
        l1, s1, seen1 = evaluate(theta1)
        history.append(l1)
        tick(l1)
        values, stats, seen = theta1, s1, seen1
        if l1 - start_value < tolerance * cases:
            converged = True
            break
        if not accelerate or len(seconds) >= max_iterations:
            continue
        theta2 = update(theta1, stats)                                     # and another
        l2, s2, seen2 = evaluate(theta2)
        history.append(l2)
        tick(l2)
        values, stats, seen = theta2, s2, seen2
        if len(seconds) >= max_iterations:
            break
        # the extrapolated point (SqS3), kept only if its log posterior is at least the plain step's
        r = np.where(moving, theta1 - theta0, 0.0)
        v = np.where(moving, theta2 - theta1, 0.0) - r
        norm_v = float(np.sqrt(np.dot(v, v)))
        alpha = -float(np.sqrt(np.dot(r, r))) / norm_v if norm_v > 0 else -1.0
        alpha = max(min(alpha, -1.0), -step_max)
        if alpha > -1.0 - 1e-12:                                             # the extrapolated point is theta2
            if alpha <= -step_max + 1e-12:
                step_max *= 4.0
            cycle_gain = l2 - start_value
        else:
            candidate = np.where(moving, theta0 - 2.0 * alpha * r + alpha * alpha * v, theta2)
            candidate = _feasible(knowledge, network, units, candidate, theta2, informed)
            try:
                lx, sx, seenx = evaluate(candidate)
            except BayesnetError:                                            # the cohort impossible there
                lx = -math.inf
            tick(max(lx, l2))
            if lx >= l2:
                values, stats, seen = candidate, sx, seenx
                history.append(lx)
                if alpha <= -step_max + 1e-12:
                    step_max *= 4.0
            else:
                step_max = max(1.0, step_max / 4.0)
            cycle_gain = history[-1] - start_value
        if cycle_gain < tolerance * cases:
            converged = True
            break
    fitted = network_with(network, units, values)
    start = time.perf_counter()
    effective = None
    if intervals == "observed":
        effective = _effective_counts(knowledge, network, units, values, moving, estep, phantom, cases)
        # never more than the complete data would hold (missing information only takes away): this
        # matters where the quadratic approximation fails, for a number at zero on its range's edge
        full = np.array([_stats_of(u, stats)[1] for u in units])
        effective = np.where(np.isfinite(effective), np.minimum(effective, full), effective)
    interval_seconds = time.perf_counter() - start
    table = _table(knowledge, units, values, seen, fitted, effective, informed)
    one_at_a_time = _table(knowledge, units, values, seen, fitted, None, informed) if effective is not None else table
    return FitResult(fitted, table, history, seconds, converged, cases, values, interval_seconds=interval_seconds,
                     one_at_a_time=one_at_a_time)


def _prior_curvature(unit: Unit, x: float) -> float:
    """``-d^2/dx^2`` of the log prior at ``x``."""
    total = 0.0
    for c, y in ((unit.alpha - 1.0, x - unit.A), (unit.beta - 1.0, unit.B - x)):
        if c > 0 and y > 0:
            total += c / (y * y)
    return total


def _effective_counts(knowledge: KnowledgeBase, network: NoisyOrNetwork, units: Sequence[Unit], values: np.ndarray,
                      moving: np.ndarray, estep, phantom: EvidenceBatch | None, cases: int) -> np.ndarray:
    """Each unit's effective count ``T*`` from the observed information (NaN where the one-at-a-time
    interval stays: multi-state priors, numbers on 0 or 1); see :mod:`bayesnet.learning.information`."""
    kinds = np.array([u.kind for u in units])
    free = moving & np.isin(kinds, ["context", "condition_leak", "finding_leak", "risk", "link", *ORDERED_KINDS]) & \
        np.isfinite(values) & (values > 1e-9) & (values < 1.0 - 1e-9)
    out = np.full(len(units), np.nan)
    if not free.any():
        return out
    curvature = np.array([_prior_curvature(u, float(x)) if free[i] else 0.0 for i, (u, x) in enumerate(zip(units, values))])
    information = observed_information(units, values, free, lambda v: network_with(network, units, v), estep,
                                       phantom, cases, bool(getattr(estep, "complete", False)),
                                       score_function(network, units, free), curvature, tuple(network.presenting))
    index = np.flatnonzero(free)
    position = {u: i for i, u in enumerate(index)}
    record_unit = {unit.record: u for u, unit in enumerate(units)}
    reading = np.eye(len(index))
    for i, u in enumerate(index):
        unit = units[u]
        if unit.leak_record is not None:
            leak_unit = record_unit[unit.leak_record]
            if leak_unit in position:
                L, p = values[leak_unit], values[u]
                reading[i, position[leak_unit]] = (1.0 - p) / (1.0 - L)
    out[index] = effective_counts(information, values[index], curvature[index], reading)
    return out


def score_function(network: NoisyOrNetwork, units: Sequence[Unit], free: np.ndarray) -> Callable:
    """``score(stats, values)``: the log likelihood's gradient over the ``free`` units (a mask), from
    the E-step's statistics at ``values`` (Fisher's identity): ``(Z - x T) / (x (1 - x))`` for a
    noisy-OR number, the table's gradient for an ordered finding's record."""
    index = np.flatnonzero(free)
    position = {u: i for i, u in enumerate(index)}
    plain = [(i, u) for i, u in enumerate(index) if units[u].kind not in ORDERED_KINDS]
    tables = [t for t in tables_of(network, units) if any(u in position for u in t.units)]

    def score(stats: Statistics, values: np.ndarray) -> np.ndarray:
        out = np.zeros(len(index))
        for i, u in plain:
            z, t = _stats_of(units[u], stats)
            x = values[u]
            out[i] = (z - x * t) / (x * (1.0 - x))
        for table in tables:
            gradient = table.gradient(values[table.units], stats.ordered_leak[table.o],
                                      stats.ordered_cause[table.o][table.parents])
            for k, u in enumerate(table.units):
                if u in position:
                    out[position[u]] = gradient[k]
        return out

    return score


def _start(units: Sequence[Unit], values: np.ndarray) -> np.ndarray:
    """The starting numbers: the records' own, except that a link or risk factor whose record equals
    its effect's leak (native number 0, which EM can never leave: it fires in no case) starts in the
    middle of its range."""
    values = values.copy()
    record_unit = {unit.record: u for u, unit in enumerate(units)}
    for u, unit in enumerate(units):
        if unit.leak_record is not None and unit.distribution != "fixed" and values[u] <= 0.0:
            lo, hi = _record_box(unit, values[record_unit[unit.leak_record]])
            if hi > lo:
                values[u] = 0.5 * (lo + hi)
    return values


def _leak_bounds(units: Sequence[Unit], values: np.ndarray, informed: np.ndarray, u: int,
                 links: Sequence[int]) -> tuple[float, float]:
    """The values leak unit ``u`` may take: its range, no uninformed link's record above its range
    (its native number is 0 once the leak passes its value: its reading is then the leak), every
    fixed link's record within its range."""
    unit = units[u]
    lo, hi = max(unit.low, unit.A), min(unit.high, unit.B)
    for v in links:
        if not informed[v]:
            hi = min(hi, units[v].high)
        elif units[v].distribution == "fixed":
            p = values[v]
            if p < 1.0:
                lo = max(lo, 1.0 - (1.0 - units[v].low) / (1.0 - p))
                hi = min(hi, 1.0 - (1.0 - units[v].high) / (1.0 - p))
    return lo, hi


def _links_of(units: Sequence[Unit]) -> dict[int, list[int]]:
    """Leak unit -> the link and risk units of its effect."""
    record_unit = {unit.record: u for u, unit in enumerate(units)}
    out: dict[int, list[int]] = {}
    for v, link in enumerate(units):
        if link.leak_record is not None:
            out.setdefault(record_unit[link.leak_record], []).append(v)
    return out


def _feasible(knowledge: KnowledgeBase, network: NoisyOrNetwork, units: Sequence[Unit], x: np.ndarray,
              fallback: np.ndarray, informed: np.ndarray) -> np.ndarray:
    """``x`` moved into the set the M-step searches: leaks and context priors clipped to their
    ranges, then links and risk factors to their records' ranges given their leaks (an uninformed one
    follows its leak as in the M-step), an ordered finding's records to their ranges; a multi-state
    prior outside its ranges, or an ordered finding whose records no longer make distributions,
    takes ``fallback``'s."""
    params = knowledge.parameters
    x = x.copy()
    links_of = _links_of(units)
    for u, unit in enumerate(units):
        if unit.kind in ("context", "condition_leak", "finding_leak") and informed[u] and unit.distribution != "fixed":
            lo, hi = max(unit.low, unit.A), min(unit.high, unit.B)
            if unit.kind != "context":
                lo, hi = _leak_bounds(units, fallback, informed, u, links_of.get(u, []))
            x[u] = min(max(x[u], lo), hi) if lo <= hi else fallback[u]
    record_unit = {unit.record: u for u, unit in enumerate(units)}
    groups: dict[int, list[int]] = {}
    for u, unit in enumerate(units):
        if unit.leak_record is not None:
            leak = x[record_unit[unit.leak_record]]
            if not informed[u]:
                x[u] = max(0.0, float(link_from_value(params[unit.record].value, leak)))
            elif unit.distribution != "fixed":
                lo, hi = _record_box(unit, leak)
                x[u] = min(max(x[u], lo), hi) if lo <= hi else fallback[u]
        elif unit.kind == "simplex" and informed[u]:
            groups.setdefault(unit.index[0], []).append(u)
    for members in groups.values():
        lo = np.array([max(units[u].low, units[u].A) for u in members])
        hi = np.array([min(units[u].high, units[u].B) for u in members])
        if np.any(x[members] < lo) or np.any(x[members] > hi):
            x[members] = fallback[members]
    for u, unit in enumerate(units):
        if unit.kind in ORDERED_KINDS and informed[u] and unit.distribution != "fixed":
            x[u] = min(max(x[u], max(unit.low, unit.A)), min(unit.high, unit.B))
    for table in tables_of(network, units):
        records = table.canonical(x[table.units])
        lo = np.array([units[u].low for u in table.units]) - 1e-12
        hi = np.array([units[u].high for u in table.units]) + 1e-12
        if table.tables(records)[2] and np.all((records >= lo) & (records <= hi)):
            x[table.units] = records
        else:
            x[table.units] = fallback[table.units]
    return x


def _stats_of(unit: Unit, stats: Statistics) -> tuple[float, float]:
    """``(Z, T)`` of a unit: fired and trials (for context priors: the state's count and the total)."""
    idx = unit.index
    if unit.kind == "context":
        counts = stats.context[idx[0]]
        return float(counts[idx[1]]), float(counts.sum())
    if unit.kind == "simplex":
        counts = stats.context[idx[0]]
        return float(counts[idx[1]]), float(counts.sum())
    if unit.kind == "condition_leak":
        return float(stats.condition_fired[idx[0]]), float(stats.condition_trials[idx[0]])
    if unit.kind == "risk":
        return float(stats.risk_fired[idx[0]][idx[1], idx[2]]), float(stats.risk_trials[idx[0]][idx[1], idx[2]])
    if unit.kind == "finding_leak":
        return float(stats.leak_fired[idx[0]]), float(stats.leak_trials[idx[0]])
    if unit.kind == "link":
        return float(stats.link_fired[idx]), float(stats.link_trials[idx])
    if unit.kind == "ordered_leak":
        counts = stats.ordered_leak[idx[0]]
        return float(counts[idx[1]]), float(counts.sum())
    if unit.kind == "ordered_link":
        counts = stats.ordered_cause[idx[0]][idx[1]]
        return float(counts[idx[2]]), float(counts.sum())
    return 0.0, 0.0


def _m_step(network: NoisyOrNetwork, knowledge: KnowledgeBase, units: Sequence[Unit], values: np.ndarray,
            stats: Statistics, informed: np.ndarray) -> np.ndarray:
    """One M-step. A link or risk factor that no case informs keeps its record's reading (its native
    number follows its effect's leak), so the loaded folder is the fitted network."""
    new = values.copy()
    params = knowledge.parameters
    count = len(units)
    z, t = np.zeros(count), np.zeros(count)
    for u, unit in enumerate(units):
        z[u], t[u] = _stats_of(unit, stats)
    kind = np.array([unit.kind for unit in units])
    alpha = np.array([unit.alpha for unit in units])
    beta = np.array([unit.beta for unit in units])
    A = np.array([unit.A for unit in units])
    B = np.array([unit.B for unit in units])
    low = np.array([unit.low for unit in units])
    high = np.array([unit.high for unit in units])
    free = informed & (t > 0) & np.array([unit.distribution != "fixed" for unit in units])
    record_unit = {unit.record: u for u, unit in enumerate(units)}

    def solve(chosen: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        chosen = chosen & free & (lo <= hi)
        if chosen.any():
            x = _maximise(z[chosen], np.maximum(t[chosen] - z[chosen], 0.0), alpha[chosen], beta[chosen], A[chosen],
                          B[chosen], lo[chosen], hi[chosen])
            new[chosen] = np.minimum(np.maximum(x, lo[chosen]), hi[chosen])

    # leaks first, each jointly with its links: over candidate leaks (the current one among them), the
    # leak's own objective plus each informed link's best value within its range given that leak
    links_of = _links_of(units)
    jobs = []
    for u in np.flatnonzero(((kind == "condition_leak") | (kind == "finding_leak")) & free):
        members = [v for v in links_of.get(u, []) if informed[v] and units[v].distribution != "fixed"]
        lo, hi = _leak_bounds(units, values, informed, u, links_of.get(u, []))
        if lo <= hi:
            jobs.append((u, members, lo, hi))
    if jobs:
        chosen = _profile_leaks(jobs, values, z, t, alpha, beta, A, B, low, high)
        for (u, *_), x in zip(jobs, chosen):
            new[u] = x
    # then links and risk factors given the new leaks, and binary context priors
    lo, hi = np.maximum(low, A), np.minimum(high, B)
    for u, unit in enumerate(units):
        if unit.leak_record is None:
            continue
        leak = new[record_unit[unit.leak_record]]
        if not informed[u]:
            new[u] = max(0.0, float(link_from_value(params[unit.record].value, leak)))
            continue
        lo[u], hi[u] = _record_box(unit, leak)
    solve((kind == "risk") | (kind == "link") | (kind == "context"), lo, hi)
    # multi-state context priors on the simplex
    groups: dict[int, list[int]] = {}
    for u, unit in enumerate(units):
        if unit.kind == "simplex" and informed[u]:
            groups.setdefault(unit.index[0], []).append(u)
    for k, members in groups.items():
        new[members] = _simplex(network, k, [units[u] for u in members], values[members], stats.context[k])
    # ordered findings, one record at a time
    lo, hi = np.maximum(low, A), np.minimum(high, B)
    for table in tables_of(network, units):
        members = table.units

        def prior(i: int, x: np.ndarray, members=members) -> np.ndarray:
            u = members[i]
            if not informed[u] or units[u].distribution == "fixed":
                return np.zeros(np.shape(x))
            return _log_density(x, 0.0, 0.0, alpha[u], beta[u], A[u], B[u])

        new[members] = table.maximise(values[members], stats.ordered_leak[table.o],
                                      stats.ordered_cause[table.o][table.parents], free[members], lo[members],
                                      hi[members], prior)
    return new


def _profile_leaks(jobs: list, values: np.ndarray, z: np.ndarray, t: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
                   A: np.ndarray, B: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """For each job ``(leak unit, its informed links, lo, hi)``: the leak that maximises its own
    objective plus its links' best objectives given it (each link within its record's range),
    searched on two grids; the current leak where no candidate beats it. All leaks at once."""
    count = len(jobs)
    width = max(1, max(len(m) for _, m, _, _ in jobs))
    leak_units = np.array([u for u, _, _, _ in jobs])
    lo = np.array([j[2] for j in jobs])
    hi = np.array([j[3] for j in jobs])
    index = np.zeros((count, width), dtype=int)
    real = np.zeros((count, width), dtype=bool)
    for r, (_, members, _, _) in enumerate(jobs):
        index[r, :len(members)] = members
        real[r, :len(members)] = True

    def pick(array: np.ndarray, pad: float) -> np.ndarray:
        return np.where(real, array[index], pad)[:, None, :]                      # (U, 1, K)

    zl, bl = pick(z, 0.0), pick(np.maximum(t - z, 0.0), 0.0)
    al, be, Al, Bl = pick(alpha, 1.0), pick(beta, 1.0), pick(A, 0.0), pick(B, 1.0)
    lowl, highl = pick(low, 0.0), pick(high, 1.0)
    zu, bu = z[leak_units][:, None], np.maximum(t - z, 0.0)[leak_units][:, None]
    au, bt, Au, Bu = alpha[leak_units][:, None], beta[leak_units][:, None], A[leak_units][:, None], B[leak_units][:, None]

    def objective(leaks: np.ndarray) -> np.ndarray:                                # (U, G) -> (U, G)
        own = _log_density(leaks, zu, bu, au, bt, Au, Bu)
        leak = leaks[:, :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            box_lo = np.maximum(np.maximum(1.0 - (1.0 - lowl) / (1.0 - leak), 0.0), Al)
            box_hi = np.minimum(np.minimum(1.0 - (1.0 - highl) / (1.0 - leak), 1.0), Bl)
        box_lo = np.where(real[:, None, :], box_lo, 0.0)
        box_hi = np.where(real[:, None, :], box_hi, 1.0)
        feasible = np.all(box_lo <= box_hi, axis=2)
        shape = box_lo.shape
        args = [np.broadcast_to(x, shape) for x in (zl, bl, al, be, Al, Bl)]
        best = _maximise(*args, box_lo, np.maximum(box_hi, box_lo))
        links = np.where(real[:, None, :], _log_density(best, *args), 0.0).sum(axis=2)
        return np.where(feasible, own + links, -np.inf)

    current = np.minimum(np.maximum(values[leak_units], lo), hi)
    grid = np.concatenate([lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, 65)[None, :], current[:, None]],
                          axis=1)
    score = objective(grid)
    best = np.argmax(score, axis=1)
    order = np.sort(grid, axis=1)
    position = np.array([np.searchsorted(order[r], grid[r, best[r]]) for r in range(count)])
    left = order[np.arange(count), np.maximum(position - 1, 0)]
    right = order[np.arange(count), np.minimum(position + 1, grid.shape[1] - 1)]
    fine = np.concatenate([left[:, None] + (right - left)[:, None] * np.linspace(0.0, 1.0, 33)[None, :],
                           grid[np.arange(count), best][:, None]], axis=1)
    fine_score = objective(fine)
    candidate = fine[np.arange(count), np.argmax(fine_score, axis=1)]
    at_current = objective(values[leak_units][:, None])[:, 0]
    inside = (values[leak_units] >= lo) & (values[leak_units] <= hi)
    at_current = np.where(inside, at_current, -np.inf)
    better = np.isfinite(fine_score.max(axis=1)) & (fine_score.max(axis=1) >= at_current)
    return np.where(better, candidate, values[leak_units])

def _simplex(network: NoisyOrNetwork, k: int, units: Sequence[Unit], current: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The MAP of a multi-state prior: ``sum_s c_s log x_s + log prior_s(x_s)`` on the simplex, each
    ``x_s`` within its range; the current values where that is not an improvement."""
    states = np.array([u.index[1] for u in units])
    if len(states) != len(network.context_states[k]) or counts.sum() <= 0:
        return current
    c = counts[states]
    alpha = np.array([u.alpha for u in units])
    beta = np.array([u.beta for u in units])
    A = np.array([u.A for u in units])
    B = np.array([u.B for u in units])
    lo = np.maximum(np.array([u.low for u in units]), A)
    hi = np.minimum(np.array([u.high for u in units]), B)
    if lo.sum() > 1.0 or hi.sum() < 1.0:
        return current
    zero = np.zeros_like(c)

    def totals(lam: np.ndarray) -> np.ndarray:
        """sum_s x_s(lambda) for each lambda: decreasing in lambda."""
        shape = (len(lam), len(c))
        args = [np.broadcast_to(v, shape) for v in (c, zero, alpha, beta, A, B, lo, hi)]
        return _maximise(*args, lam=np.broadcast_to(np.asarray(lam, float)[:, None], shape), steps=56).sum(axis=1)

    scale = float(c.sum() + alpha.sum() + beta.sum() + 1.0)
    left, right = -scale, 2.0 * scale
    while totals(np.array([left]))[0] < 1.0 and left > -1e9 * scale:
        left *= 4.0
    while totals(np.array([right]))[0] > 1.0 and right < 1e9 * scale:
        right *= 4.0
    for _ in range(6):  # each round narrows the bracket 64-fold
        grid = np.linspace(left, right, 65)
        above = totals(grid) > 1.0
        last = int(np.flatnonzero(above)[-1]) if above.any() else 0
        left, right = grid[last], grid[min(last + 1, 64)]
    x = _maximise(c, zero, alpha, beta, A, B, lo, hi, 0.5 * (left + right))
    x = x / x.sum()
    if np.any(x < lo - 1e-12) or np.any(x > hi + 1e-12):
        return current

    def objective(y: np.ndarray) -> float:
        return float(_log_density(y, c, zero, alpha, beta, A, B).sum())

    return x if objective(x) >= objective(current) else current


def _interval(unit: Unit, z: float, t: float, mode: float, lo: float, hi: float) -> tuple[float, float]:
    """The central 95% interval of ``x^z (1 - x)^(t - z)`` times the prior on ``[lo, hi]``, widened
    to hold ``mode``."""
    b = max(t - z, 0.0)
    if hi <= lo:
        return lo, hi
    curvature = 0.0
    for c, y in ((z, mode), (b, 1.0 - mode), (unit.alpha - 1.0, mode - unit.A), (unit.beta - 1.0, unit.B - mode)):
        if c > 0 and y > 0:
            curvature += c / (y * y)
    width = 10.0 / math.sqrt(curvature) if curvature > 0 else hi - lo
    left, right = max(lo, mode - width), min(hi, mode + width)
    if right <= left:
        return mode, mode
    grid = np.linspace(left, right, 2001)
    log_d = _log_density(grid, z, b, unit.alpha, unit.beta, unit.A, unit.B)
    finite = np.isfinite(log_d)
    if not finite.any():
        return lo, hi
    density = np.where(finite, np.exp(log_d - log_d[finite].max()), 0.0)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    if cdf[-1] <= 0:
        return lo, hi
    cdf /= cdf[-1]
    q_lo, q_hi = np.interp([0.025, 0.975], cdf, grid)
    return min(float(q_lo), mode), max(float(q_hi), mode)


def _reading(unit: Unit, x: float, leak: float | None) -> float:
    if unit.kind in ("risk", "link"):
        return leak + (1.0 - leak) * x  # type: ignore[operator]   # never below the leak, in floating point too
    return x


def _table(knowledge: KnowledgeBase, units: Sequence[Unit], values: np.ndarray, stats: Statistics | None,
           fitted: NoisyOrNetwork, effective: np.ndarray | None = None,
           informed: np.ndarray | None = None) -> pd.DataFrame:
    params = knowledge.parameters
    record_unit = {unit.record: u for u, unit in enumerate(units)}
    rows = []
    for u, unit in enumerate(units):
        p = params[unit.record]
        row = {"parameter": p.name, "role": p.role, "fitted": False, "informed": False, "distribution": unit.distribution,
               "prior_kind": p.kind, "prior_value": p.value, "prior_low": p.low, "prior_high": p.high,
               "value": p.value, "low": p.low, "high": p.high, "n": pd.NA, "N": pd.NA, "at_edge": False}
        if unit.kind != "held" and unit.distribution != "fixed" and stats is not None:
            z, t = _stats_of(unit, stats)
            if informed is not None and not informed[u]:
                t = 0.0
            if t <= 0 and unit.kind in ORDERED_KINDS and abs(float(values[u]) - p.value) > 1e-12:
                # no case informs it, but the leak carried it (the canonical record of its table)
                reading = min(max(float(values[u]), p.low), p.high)
                row.update(fitted=True, value=reading, low=min(reading, p.value), high=max(reading, p.value), n=0, N=0,
                           at_edge=True)
            if t <= 0 and unit.leak_record is not None:
                # no case informs it, but its leak rose past its value: its reading is now the leak
                reading = _reading(unit, float(values[u]), values[record_unit[unit.leak_record]])
                if reading > p.value + 1e-12:
                    reading = min(reading, p.high)
                    row.update(fitted=True, value=reading, low=reading, high=p.high, n=0, N=0, at_edge=True)
            if t > 0:
                leak = values[record_unit[unit.leak_record]] if unit.leak_record is not None else None
                x = float(values[u])
                if unit.kind in ("risk", "link"):
                    lo, hi = _record_box(unit, leak)  # type: ignore[arg-type]
                else:
                    lo, hi = max(unit.low, unit.A), min(unit.high, unit.B)
                weight = t                                         # the cohort's size, centred on the fit
                if effective is not None and np.isfinite(effective[u]):
                    weight = float(effective[u])                      # what the observed information says
                i_lo, i_hi = _interval(unit, x * weight, weight, x, lo, hi)
                value = _reading(unit, x, leak)
                low, high = _reading(unit, i_lo, leak), _reading(unit, i_hi, leak)
                value = min(max(value, p.low), p.high)
                low, high = max(min(low, value), p.low), min(max(high, value), p.high)
                row.update(fitted=True, informed=True, value=value, low=low, high=high, n=min(int(round(z)), int(round(t))),
                           N=int(round(t)),
                           at_edge=bool(hi > lo and (x <= lo + 1e-12 or x >= hi - 1e-12)))
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("parameter")
    frame["n"] = frame["n"].astype("Int64")
    frame["N"] = frame["N"].astype("Int64")
    return frame
