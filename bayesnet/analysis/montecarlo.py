"""Second-order Monte Carlo: how far the differential moves when every number is uncertain.

Three verbs, as in SALib: :func:`uncertainty` states the problem as plain data (one distribution
per parameter, editable), :func:`sample` draws record values from it, :func:`monte_carlo` recomputes
the differential for every draw and summarises it.

Distributions (on the record's scale, the probability the knowledge base writes down)
-------------------------------------------------------------------------------------
``beta``
    The source gives counts ``n`` of ``N``: Beta(n + 1, N - n + 1), whatever the kind.
``pert``
    ``verbal``, ``reported`` and ``derived`` values without counts: a PERT (scaled Beta)
    distribution on ``[low, high]`` with its mode at ``value``, shape ``1 + 4 (value - low) /
    (high - low)`` and ``1 + 4 (high - value) / (high - low)``. For verbal values ``low`` and
    ``high`` are the verbal scale's range for the phrase.
``uniform``
    ``assumed`` values: uniform on their (wide) ``[low, high]``.
``pert`` (fitted)
    ``fitted`` values (:mod:`bayesnet.learning.fitting`): a PERT on their 95% interval with its mode at
    the fitted value (their ``n`` and ``N`` are the fit's effective counts, not a proportion).
``fixed``
    ``low == high`` (and no counts): always ``value``.

Each draw is compiled like the knowledge base itself (:func:`bayesnet.analysis.parameters.batch_from_records`):
links from the drawn value and the drawn leak of their effect, a multi-state context prior
rescaled to sum to one. A draw equal to the point values reproduces the point posteriors.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesnet.inference.engine import query_parameter_batch
from bayesnet.inference.evidence import EncodedEvidence, Evidence
from bayesnet.knowledge.base import Parameter
from bayesnet.model import Model
from bayesnet.analysis.parameters import batch_from_records

__all__ = ["uncertainty", "sample", "monte_carlo", "MonteCarloResult", "DISTRIBUTIONS"]

DISTRIBUTIONS = ("beta", "pert", "uniform", "fixed")
#: draws recomputed at once (bounds memory: one parameter set of the real network is about 20 kB)
CHUNK = 1000


def _distribution(p: Parameter) -> tuple[str, float, float]:
    if p.kind == "fitted" and p.high > p.low:  # n/N are effective counts of the fit, not a proportion to draw from
        width = p.high - p.low
        return "pert", 1.0 + 4.0 * (p.value - p.low) / width, 1.0 + 4.0 * (p.high - p.value) / width
    if p.n is not None and p.N is not None:
        return "beta", float(p.n + 1), float(p.N - p.n + 1)
    if p.high == p.low:
        return "fixed", np.nan, np.nan
    if p.kind == "assumed":
        return "uniform", np.nan, np.nan
    width = p.high - p.low
    return "pert", 1.0 + 4.0 * (p.value - p.low) / width, 1.0 + 4.0 * (p.high - p.value) / width


def uncertainty(model: Model) -> pd.DataFrame:
    """The uncertainty of every parameter as plain data, one row per parameter in knowledge-base order.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter: ``role, kind, value, low, high, n, N``, ``distribution`` (one of
        :data:`DISTRIBUTIONS`) and its shape parameters ``alpha, beta`` (NaN where unused). Edit it
        (for example set ``distribution`` to ``fixed``) and pass it to :func:`sample`.
    """
    rows = []
    for p in model.knowledge.parameters:
        dist, alpha, beta = _distribution(p)
        rows.append({"parameter": p.name, "role": p.role, "kind": p.kind, "value": p.value, "low": p.low,
                     "high": p.high, "n": p.n, "N": p.N, "distribution": dist, "alpha": alpha, "beta": beta})
    frame = pd.DataFrame(rows).set_index("parameter")
    frame["n"] = frame["n"].astype("Int64")
    frame["N"] = frame["N"].astype("Int64")
    return frame


def _generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def sample(problem: pd.DataFrame, size: int, seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """Draw ``size`` record-value sets from ``problem`` (see :func:`uncertainty`): ``(size, P)``.

    ``seed`` is an integer (``0`` included) or a :class:`numpy.random.Generator`; the same seed
    gives the same draws.
    """
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive whole number of draws, got {size!r}")
    unknown = sorted(set(problem["distribution"]) - set(DISTRIBUTIONS))
    if unknown:
        raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {', '.join(map(repr, unknown))}")
    rng = _generator(seed)
    dist = problem["distribution"].to_numpy()
    value, low, high = (problem[c].to_numpy(float) for c in ("value", "low", "high"))
    alpha, beta = problem["alpha"].to_numpy(float), problem["beta"].to_numpy(float)
    out = np.empty((size, len(problem)))
    out[:] = value
    for name in DISTRIBUTIONS:  # a fixed order, so the stream of random numbers is reproducible
        cols = np.flatnonzero(dist == name)
        if cols.size == 0 or name == "fixed":
            continue
        if name == "beta":
            out[:, cols] = rng.beta(alpha[cols], beta[cols], size=(size, cols.size))
        elif name == "pert":
            out[:, cols] = low[cols] + (high[cols] - low[cols]) * rng.beta(alpha[cols], beta[cols], size=(size, cols.size))
        else:
            out[:, cols] = rng.uniform(low[cols], high[cols], size=(size, cols.size))
    return out


@dataclass(frozen=True, eq=False)
class MonteCarloResult:
    """The differential recomputed for every draw of the parameters.

    Attributes
    ----------
    posteriors
        One row per draw, one column per condition (NaN for a draw under which the evidence is
        impossible).
    summary
        Indexed by condition, ranked by the point posterior: ``point``, ``mean``, ``median``,
        ``q05`` and ``q95`` (the 90% interval), ``top_share`` (share of draws in which the
        condition ranks first).
    top
        The condition ranked first at the point values.
    top_changed
        The share of draws in which another condition ranks first.
    impossible
        The number of draws under which the evidence has probability zero (left out above).
    """

    posteriors: pd.DataFrame
    summary: pd.DataFrame
    top: str
    top_changed: float
    impossible: int


def monte_carlo(model: Model, evidence: Evidence | EncodedEvidence | None, draws: int = 10_000,
                seed: int | np.random.Generator | None = 0, problem: pd.DataFrame | None = None,
                progress: Callable[[int], None] | None = None) -> MonteCarloResult:
    """Second-order Monte Carlo of the differential for one scenario.

    Parameters
    ----------
    model, evidence
        The model and the scenario.
    draws
        The number of parameter sets drawn.
    seed
        Seed of the random draws (``0`` works), or a :class:`numpy.random.Generator`.
    problem
        The distributions (default :func:`uncertainty` of ``model``), in knowledge-base order.
    progress
        Called with the number of draws just finished after each chunk (for a progress bar).
    """
    encoded = evidence if isinstance(evidence, EncodedEvidence) else model.encode(evidence)
    point = model.answer(encoded).posterior
    problem = uncertainty(model) if problem is None else problem
    names = [p.name for p in model.knowledge.parameters]
    if list(problem.index) != names:
        raise ValueError("problem must have one row per parameter of the model, in knowledge-base order "
                         "(as uncertainty(model) gives)")
    values = sample(problem, draws, seed)
    posterior = np.empty((draws, len(model.conditions)))
    for start in range(0, draws, CHUNK):
        stop = min(draws, start + CHUNK)
        batch = batch_from_records(model.network, model.knowledge.parameters, model.locations, values[start:stop])
        _, posterior[start:stop] = query_parameter_batch(model.network, batch, encoded)
        if progress is not None:
            progress(stop - start)
    frame = pd.DataFrame(posterior, columns=list(model.conditions))
    frame.index.name = "draw"
    valid = ~np.isnan(posterior).any(axis=1)
    top = int(np.argmax(point))
    winners = np.argmax(np.where(np.isnan(posterior), -np.inf, posterior), axis=1)[valid]
    good = posterior[valid]
    summary = pd.DataFrame({
        "point": point,
        "mean": good.mean(axis=0) if len(good) else np.nan,
        "median": np.median(good, axis=0) if len(good) else np.nan,
        "q05": np.quantile(good, 0.05, axis=0) if len(good) else np.nan,
        "q95": np.quantile(good, 0.95, axis=0) if len(good) else np.nan,
        "top_share": np.bincount(winners, minlength=len(point)) / max(1, len(good)),
    }, index=pd.Index(model.conditions, name="condition")).sort_values("point", ascending=False, kind="stable")
    changed = float(np.mean(winners != top)) if len(good) else np.nan
    return MonteCarloResult(frame, summary, model.conditions[top], changed, int((~valid).sum()))
