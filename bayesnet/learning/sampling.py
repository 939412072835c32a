"""Synthetic cohorts: patients of the population drawn from the network, vectorised.

Every patient of the population has at least one presenting finding present (see
``priors/README.md``). A patient of the care setting drawn by plain forward sampling has one only
rarely (the conditions' base rates are per imaged patient), so rejection would discard most draws.
The cohort is drawn **exactly from the conditional distribution given the population**, with no
rejection:

1. The context nodes that are parents of a condition are enumerated jointly (a few thousand
   configurations on the shipped network); each configuration ``c`` gets ``P(c | population)``,
   proportional to ``P(c) P(population | c)``. The population is the union of independent events
   given ``c``: *source 0*, some presenting finding's leak fires (``rho_0``); *source j*, condition
   ``j`` is present and activates some presenting finding (``rho_j(c) = P(d_j | c) a_j``, with
   ``a_j = 1 - prod_f (1 - p_fj)``). So ``P(population | c) = 1 - prod_s (1 - rho_s)``. Context
   nodes that no condition depends on are drawn from their priors.
2. Given ``c``, the first source that fires is drawn (``P(J = t) ~ rho_t prod_{s<t} (1 - rho_s)``);
   sources before it are silent, it fires, sources after it fire with their own probability.
3. A firing source's activations of the presenting findings are drawn given at least one (the same
   first-true rule over the findings); a silent condition is present with probability
   ``P(d_j | c) (1 - a_j) / (1 - rho_j)`` and activates no presenting finding. The presenting
   findings are the OR of the activations.
4. The other findings follow their tables given the conditions, drawn as the models are defined: a
   binary finding is present if its leak or some present cause activates it (leaky noisy-OR); an
   ordered finding takes the highest of the states drawn by its leak and by each present cause
   (leaky noisy-MAX).

Each step is exact, so the cohort's frequencies are the model's own marginals given the population
(``model.priors`` for the conditions), within sampling error.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from bayesnet.errors import BayesnetError, UnknownNameError
from bayesnet.knowledge.base import BINARY
from bayesnet.knowledge.network import NoisyOrNetwork

__all__ = ["sample_cohort", "Sampler", "CASE_ID"]

#: the index name of a sampled cohort (written as its first column)
CASE_ID = "case_id"
#: cases drawn at a time (bounds memory: about 1 kB of work arrays per case)
CHUNK = 131_072
#: the most joint context configurations enumerated
MAX_CONFIGURATIONS = 1 << 20


def _first_true(rng: np.random.Generator, prob: np.ndarray) -> np.ndarray:
    """Independent Bernoulli draws ``(N, S)`` with probabilities ``prob``, conditioned on at least one true.

    The first true index ``J`` is drawn with ``P(J = t) ~ prob_t prod_{s<t} (1 - prob_s)``; the
    entries before it are false, after it their own Bernoulli draws.
    """
    N, S = prob.shape
    before = np.cumprod(np.concatenate([np.ones((N, 1)), 1.0 - prob[:, :-1]], axis=1), axis=1)
    weight = prob * before
    cum = np.cumsum(weight, axis=1)
    u = rng.random(N) * cum[:, -1]
    first = np.minimum((cum < u[:, None]).sum(axis=1), S - 1)
    columns = np.arange(S)[None, :]
    draws = rng.random((N, S)) < prob
    return np.where(columns < first[:, None], False, np.where(columns == first[:, None], True, draws))


def _categorical(rng: np.random.Generator, prob: np.ndarray) -> np.ndarray:
    """One draw per row of ``prob`` ``(N, K)`` (rows sum to 1): the state index."""
    cdf = np.cumsum(prob, axis=1)
    return np.minimum((cdf < (rng.random(prob.shape[0]) * cdf[:, -1])[:, None]).sum(axis=1), prob.shape[1] - 1)


@dataclass(frozen=True, eq=False)
class Sampler:
    """Exact draws from a network given the population (see the module docstring)."""

    network: NoisyOrNetwork

    @cached_property
    def _tables(self) -> dict:
        net = self.network
        parents = sorted({k for ps in net.risk_parents for k in ps})
        cards = [len(net.context_states[k]) for k in parents]
        count = int(np.prod(cards)) if cards else 1
        if count > MAX_CONFIGURATIONS:
            raise BayesnetError(f"the conditions' context parents have {count} joint configurations; "
                                f"at most {MAX_CONFIGURATIONS} can be enumerated for sampling")
        states = np.indices(cards).reshape(len(cards), -1).T if cards else np.zeros((1, 0), dtype=int)  # (C, P)
        prior = np.ones(count)
        log_absent = np.tile(np.log1p(-net.condition_leak), (count, 1))             # (C, n)
        for column, k in enumerate(parents):
            prior = prior * net.context_prior[k][states[:, column]]
            with np.errstate(divide="ignore"):
                log_absent = log_absent + np.log1p(-net.risk[k][:, states[:, column]].T)
        present = -np.expm1(log_absent)                                              # P(d_j | c)
        rows = list(net.presenting)
        if rows:
            reach = 1.0 - np.prod(1.0 - net.link[rows], axis=0)                      # a_j
            leak_reach = 1.0 - np.prod(1.0 - net.finding_leak[rows])
            rho = np.concatenate([np.full((count, 1), leak_reach), present * reach], axis=1)
            population = 1.0 - np.prod(1.0 - rho, axis=1)
        else:
            reach = np.zeros(len(net.conditions))
            rho = np.zeros((count, len(net.conditions) + 1))
            population = np.ones(count)
        weight = prior * population
        if not weight.sum() > 0:
            raise BayesnetError("the population (some presenting finding present) has probability zero under this model")
        return {"parents": parents, "states": states, "present": present, "reach": reach, "rho": rho,
                "cdf": np.cumsum(weight) / weight.sum(), "rows": rows}

    def draw(self, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """State codes of ``size`` patients: ``{node: int8 codes}`` for context, conditions and findings."""
        net = self.network
        t = self._tables
        config = np.minimum(np.searchsorted(t["cdf"], rng.random(size), side="right"), len(t["cdf"]) - 1)
        out: dict[str, np.ndarray] = {}
        parent_state = dict(zip(t["parents"], t["states"][config].T))
        for k, name in enumerate(net.context):
            if k in parent_state:
                out[name] = parent_state[k].astype(np.int8)
            else:
                cdf = np.cumsum(net.context_prior[k])
                out[name] = np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(size), side="right"),
                                       len(cdf) - 1).astype(np.int8)
        present = t["present"][config]                                               # (N, n)
        n = len(net.conditions)
        rows = t["rows"]
        if rows:
            rho = t["rho"][config]
            fires = _first_true(rng, rho)                                            # (N, n + 1)
            silent_present = present * (1.0 - t["reach"]) / np.maximum(1.0 - rho[:, 1:], 1e-300)
            d = np.where(fires[:, 1:], True, rng.random((size, n)) < silent_present)
            presenting = np.zeros((size, len(rows)), dtype=bool)
            leak = np.broadcast_to(net.finding_leak[rows], (size, len(rows)))
            hit = np.flatnonzero(fires[:, 0])
            if hit.size:
                presenting[hit] |= _first_true(rng, leak[hit])
            for j in range(n):
                hit = np.flatnonzero(fires[:, j + 1])
                if hit.size:
                    presenting[hit] |= _first_true(rng, np.broadcast_to(net.link[rows, j], (hit.size, len(rows))))
        else:
            d = rng.random((size, n)) < present
        for j, name in enumerate(net.conditions):
            out[name] = d[:, j].astype(np.int8)
        # the other findings: the OR (binary) or the MAX (ordered) of the leak's and each present cause's draw
        binary = [i for i in range(net.binary_count) if i not in rows]
        finding = rng.random((size, len(binary))) < net.finding_leak[binary]
        level = [_categorical(rng, np.broadcast_to(o.leak, (size, len(o.states)))) for o in net.ordered]
        for j in range(n):
            hit = np.flatnonzero(d[:, j])
            if not hit.size:
                continue
            finding[hit] |= rng.random((hit.size, len(binary))) < net.link[binary, j]
            for o, finding_level in zip(net.ordered, level):
                if o.cause[j, 0] < 1.0:
                    drawn = _categorical(rng, np.broadcast_to(o.cause[j], (hit.size, len(o.states))))
                    finding_level[hit] = np.maximum(finding_level[hit], drawn)
        for column, i in enumerate(binary):
            out[net.findings[i]] = finding[:, column].astype(np.int8)
        for column, i in enumerate(rows):
            out[net.findings[i]] = presenting[:, column].astype(np.int8)
        for o, finding_level in zip(net.ordered, level):
            out[o.name] = finding_level.astype(np.int8)
        return out


def _shares(names: tuple[str, ...], missing: float | Mapping[str, float], what: str, allowed: set[str]) -> dict[str, float]:
    if isinstance(missing, Mapping):
        unknown = sorted(set(missing) - allowed)
        if unknown:
            raise UnknownNameError("node in missing", unknown[0], sorted(allowed))
        shares = {name: float(missing.get(name, 0.0)) for name in names}
    else:
        shares = {name: float(missing) for name in names}
    for name, share in shares.items():
        if not 0.0 <= share <= 1.0:
            raise BayesnetError(f"{what} must be a share between 0 and 1 for each node, got {share!r} for {name}")
    return shares


def sample_cohort(network: NoisyOrNetwork, size: int, *, seed: int | np.random.Generator | None = 0,
                  missing: float | Mapping[str, float] = 0.0, missing_labels: float = 0.0,
                  labels: bool = True, progress=None) -> pd.DataFrame:
    """Draw ``size`` patients of the population (see the module docstring).

    Parameters
    ----------
    network
        The network to draw from.
    size
        The number of cases.
    seed
        An integer (``0`` included) or a :class:`numpy.random.Generator`; the same seed gives the same cohort.
    missing
        A share of finding cells left unobserved at random (independently per cell), or a mapping
        from node (finding, condition or context) to its own share.
    missing_labels
        A share of condition cells left unobserved at random (``labels=True`` only).
    labels
        Include the conditions as columns.
    progress
        Called with the number of cases just drawn after each chunk (for a progress bar).

    Returns
    -------
    pandas.DataFrame
        One row per case, index ``case_id`` (1, 2, ...); columns the context nodes, the conditions
        (with ``labels``) and the findings, each a pandas ``Categorical`` of the node's states, NaN
        where unobserved: the cohort format of ``bayesnet score``.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise BayesnetError(f"the number of cases must be a positive whole number, got {size!r}")
    if isinstance(missing, (int, float)) and not isinstance(missing, bool) and not 0.0 <= missing <= 1.0:
        raise BayesnetError(f"missing must be a share between 0 and 1, got {missing!r}")
    if not 0.0 <= float(missing_labels) <= 1.0:
        raise BayesnetError(f"missing_labels must be a share between 0 and 1, got {missing_labels!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    net = network
    columns = list(net.context) + (list(net.conditions) if labels else []) + list(net.vocabulary)
    allowed = set(net.context) | set(net.conditions) | set(net.vocabulary)
    if isinstance(missing, Mapping):
        shares = _shares(tuple(columns), missing, "missing", allowed)
    else:
        shares = {name: float(missing) for name in net.vocabulary}
    if labels and missing_labels:
        for name in net.conditions:
            shares[name] = max(shares.get(name, 0.0), float(missing_labels))
    sampler = Sampler(net)
    codes = {name: np.empty(size, dtype=np.int8) for name in columns}
    for start in range(0, size, CHUNK):
        stop = min(size, start + CHUNK)
        drawn = sampler.draw(stop - start, rng)
        for name in columns:
            block = drawn[name]
            share = shares.get(name, 0.0)
            if share > 0:
                block = np.where(rng.random(stop - start) < share, np.int8(-1), block)
            codes[name][start:stop] = block
        if progress is not None:
            progress(stop - start)
    data = {name: pd.Categorical.from_codes(codes[name], categories=list(net.states(name) if name not in net.conditions
                                                                        else BINARY))
            for name in columns}
    return pd.DataFrame(data, index=pd.RangeIndex(1, size + 1, name=CASE_ID), copy=False)
