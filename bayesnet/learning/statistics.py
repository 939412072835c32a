"""The E-step: expected sufficient statistics of a cohort under the current network, exactly.

Complete data
-------------
Every leaky noisy-OR is a set of independent *activations*: the leak fires with probability ``L``,
and each present cause ``j`` fires with probability ``p_j``; the effect is present when something
fires. A case's complete data are its context, its conditions and the activations of the tables it
observes. The expected counts per table entry are then

* ``T`` (*trials*): expected number of cases in which the entry could fire (the leak: every case
  observing the effect; a cause: ``P(cause present | evidence)`` summed over those cases);
* ``Z`` (*fired*): expected number of cases in which it fired. An effect observed absent fired
  nothing. For an effect observed present, ``P(cause j fired, e) = p_j P(d_j present, e_-F)``,
  with ``e_-F`` the evidence without that effect (firing makes it present whatever else holds),
  so ``Z = p_j P(d_j | e_-F) P(e_-F) / P(e)``, and for the leak ``L P(e_-F) / P(e)``: one more
  exact query per positive finding of a case, asked as ``P(e_-F) = P(e) + P(e with F absent)``
  (an absent finding is absorbed, so that query is the cheaper one, and the sum has no cancellation).

Findings a case does not observe play no part (their activations are independent of everything
else given the conditions). The population is observed in every case: when no presenting finding
is observed present, "some presenting finding present" is evidence whose activations are latent;
each presenting finding then counts as above with ``e_-F`` the evidence without the population.

An ordered finding ``Y`` (a leaky noisy-MAX) is the largest of independent draws: the leak's ``Y_L``
from ``L`` and, for each present cause ``j``, ``Y_j`` from its own distribution ``c_j``. Its complete
data are those draws; the counts are ``ordered_leak[s]``, the expected number of cases whose leak
drew ``s``, and ``ordered_cause[j, s]``, those in which cause ``j`` was present and drew ``s``. For
``Y`` observed at ``y``, with ``e_-Y`` the evidence without ``Y`` and ``Y_-j`` the largest of the other
draws, ``P(Y_-j <= t | d) = P(Y <= t | d) / C_j(<= t)`` for ``d_j`` present, so

* ``P(d_j, Y_j = y, e) = c_j(y) P(d_j, Y <= y, e_-Y) / C_j(<= y)``;
* ``P(d_j, Y_j = s, e) = c_j(s) [P(d_j, Y <= y, e_-Y) / C_j(<= y) - P(d_j, Y <= y-1, e_-Y) / C_j(<= y-1)]``
  for ``s < y``; draws above ``y`` are impossible;

and the leak likewise with ``L``. ``P(d_j, Y <= y, e_-Y) = P(d_j, e) + P(d_j, Y <= y-1, e_-Y)``, and
``Y <= y-1`` is the engine row ``[Y >= y]`` absent: one more exact query per case and ordered finding
observed above its lowest state, a cheap one (an absent row is absorbed).

A condition's table over its context parents is a noisy-OR of the same kind. With the parents
known, ``P(state s of k fired | e) = q P(d_j | e) / P(d_j | c)`` (the activation only makes the
condition present, so its posterior is the condition's, rescaled). With parents unknown, each
configuration of them is clamped in turn (one exact query each, for the cases that need it) and
the counts are summed with weights ``P(configuration | e)``. A context node's expected counts are
its posterior, from the same configurations (a node no condition depends on keeps its prior).

Statistics of disjoint sets of cases add up: a Dask partition's are computed alone and summed.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, fields

import numpy as np

from bayesnet.errors import EvidenceError
from bayesnet.inference.engine import ExactEngine
from bayesnet.inference.evidence import EvidenceBatch
from bayesnet.knowledge.network import NoisyOrNetwork

__all__ = ["Statistics", "expected_statistics", "complete_cases", "ordered_levels"]

#: (case, row) pairs answered per batch query (bounds memory: about 1.3 kB per pair)
PAIR_CHUNK = 40_000


@dataclass(eq=False)
class Statistics:
    """Expected counts of a set of cases (see the module docstring); they add with ``+``.

    ``context[k]`` ``(S_k,)``; ``condition_fired``/``condition_trials`` ``(n,)`` for the
    conditions' leaks; ``risk_fired[k]``/``risk_trials[k]`` ``(n, S_k)``; ``leak_fired``/``leak_trials``
    ``(mb,)`` and ``link_fired``/``link_trials`` ``(mb, n)`` for the binary findings (presenting
    included); ``ordered_leak[o]`` ``(K_o,)`` and ``ordered_cause[o]`` ``(n, K_o)`` for the ordered
    findings (each cause's row sums to its trials). ``log_likelihood`` is the sum of the cases' weight times log P(evidence), ``cases``
    the sum of their weights.
    """

    context: list[np.ndarray]
    condition_fired: np.ndarray
    condition_trials: np.ndarray
    risk_fired: list[np.ndarray]
    risk_trials: list[np.ndarray]
    leak_fired: np.ndarray
    leak_trials: np.ndarray
    link_fired: np.ndarray
    link_trials: np.ndarray
    ordered_leak: list[np.ndarray]
    ordered_cause: list[np.ndarray]
    log_likelihood: float = 0.0
    cases: float = 0.0

    @classmethod
    def zeros(cls, network: NoisyOrNetwork) -> Statistics:
        n, mb = len(network.conditions), network.binary_count
        cards = [len(s) for s in network.context_states]
        levels = [len(o.states) for o in network.ordered]
        return cls([np.zeros(c) for c in cards], np.zeros(n), np.zeros(n), [np.zeros((n, c)) for c in cards],
                   [np.zeros((n, c)) for c in cards], np.zeros(mb), np.zeros(mb), np.zeros((mb, n)), np.zeros((mb, n)),
                   [np.zeros(K) for K in levels], [np.zeros((n, K)) for K in levels])

    def __add__(self, other: Statistics) -> Statistics:
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            out[f.name] = [x + y for x, y in zip(a, b)] if isinstance(a, list) else a + b
        return Statistics(**out)

    def scaled(self, weight: float) -> Statistics:
        out = {}
        for f in fields(self):
            a = getattr(self, f.name)
            out[f.name] = [x * weight for x in a] if isinstance(a, list) else a * weight
        return Statistics(**out)

    def max_difference(self, other: Statistics) -> float:
        """The largest absolute difference between two sets of statistics (for checks)."""
        worst = 0.0
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            pairs = zip(a, b) if isinstance(a, list) else [(a, b)]
            for x, y in pairs:
                worst = max(worst, float(np.max(np.abs(np.asarray(x) - np.asarray(y)), initial=0.0)))
        return worst


def _structure(net: NoisyOrNetwork) -> np.ndarray:
    """``(mb, n)``: which conditions are causes of each binary finding (a link record exists), whatever
    its number (a link at zero is still a link: its count of trials is what lets EM move it)."""
    mb = net.binary_count
    out = np.zeros((mb, len(net.conditions)), dtype=bool)
    for i in range(mb):
        out[i, list(net.finding_parents[i])] = True
    return out | (net.link[:mb] > 0)


def _subset(batch: EvidenceBatch, rows: np.ndarray) -> EvidenceBatch:
    return EvidenceBatch(tuple(c[rows] for c in batch.context), batch.conditions[rows], batch.findings[rows])


def _known_states(batch: EvidenceBatch) -> list[np.ndarray]:
    """For each context node ``(N,)``: the observed state, or -1 where not exactly one state is possible."""
    out = []
    for c in batch.context:
        nonzero = c > 0
        one = nonzero.sum(axis=1) == 1
        out.append(np.where(one, np.argmax(nonzero, axis=1), -1))
    return out


def complete_cases(batch: EvidenceBatch) -> np.ndarray:
    """``(N,)``: the cases whose context and conditions are all observed (counted in closed form)."""
    if len(batch) == 0:
        return np.zeros(0, dtype=bool)
    return np.all(batch.conditions.min(axis=2) == 0, axis=1) & np.all(np.stack(
        [state >= 0 for state in _known_states(batch)], axis=1), axis=1)


def expected_statistics(network: NoisyOrNetwork, batch: EvidenceBatch, weight: np.ndarray | float = 1.0,
                        engine: ExactEngine | None = None, labels: object = None) -> Statistics:
    """The expected counts of the cases of ``batch`` under ``network`` (see the module docstring).

    ``weight`` multiplies each case's counts (a scalar or ``(N,)``). ``labels`` names the cases in
    the error raised for evidence that is impossible under the network (default: 1-based row numbers).
    """
    engine = ExactEngine(network) if engine is None else engine
    N = len(batch)
    stats = Statistics.zeros(network)
    if N == 0:
        return stats
    w = np.broadcast_to(np.asarray(weight, float), (N,)).astype(float)
    known = complete_cases(batch)
    if known.any():
        rows = np.flatnonzero(known)
        _closed_statistics(network, _subset(batch, rows), w[rows], stats, labels, rows)
        if known.all():
            return stats
        rows = np.flatnonzero(~known)
        batch, w = _subset(batch, rows), w[rows]
        labels = None if labels is None else [labels[r] for r in rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ev, post = engine.query_batch(batch)
    bad = ~np.isfinite(log_ev)
    if bad.any():
        rows = np.flatnonzero(bad)
        names = [str(labels[r]) if labels is not None else str(r + 1) for r in rows[:5]]
        raise EvidenceError(f"{bad.sum()} case(s) have evidence that is impossible under the model (probability "
                            f"zero), e.g. {', '.join(names)}; score them to see which items cannot hold together")
    stats.log_likelihood += float(np.dot(w, log_ev))
    stats.cases += float(w.sum())
    _finding_statistics(network, engine, batch, w, log_ev, post, stats)
    _ordered_statistics(network, engine, batch, w, log_ev, post, stats)
    _condition_statistics(network, engine, batch, w, log_ev, post, stats)
    return stats


def ordered_levels(net: NoisyOrNetwork, batch: EvidenceBatch) -> list[np.ndarray]:
    """For each ordered finding ``(N,)``: the observed state, -1 where unobserved (fitting takes
    nothing else: a soft or partial observation is an error)."""
    out = []
    for finding in net.ordered:
        rows = list(finding.above + finding.step)
        lam = batch.findings[:, rows, :]
        unobserved = lam[..., 0] == lam[..., 1]
        absent = (lam[..., 1] == 0) & (lam[..., 0] > 0)
        present = (lam[..., 0] == 0) & (lam[..., 1] > 0)
        level = np.full(len(batch), -1)
        matched = np.all(unobserved, axis=1)
        for state in range(len(finding.states)):
            match = np.ones(len(batch), dtype=bool)
            said = dict(finding.rows(state))
            for column, row in enumerate(rows):
                kind = {None: unobserved, 0: absent, 1: present}[said.get(row)]
                match &= kind[:, column]
            level[match] = state
            matched |= match
        if not matched.all():
            raise EvidenceError(f"fitting needs hard evidence: {finding.name} is one of its states or empty")
        out.append(level)
    return out


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` where ``b > 0``, else 0 (there the numerator's weight is zero too)."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    out = np.zeros(a.shape)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _sources(net: NoisyOrNetwork, o: int, present: np.ndarray, w: np.ndarray, stats: Statistics
             ) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The ordered finding ``o``'s parents and its sources' distributions and cumulative sums
    ``(1 + P, K)`` (the leak first). Conditions that are not causes draw the lowest state whenever
    present: their counts, from ``present`` ``(N, n)`` (each case's P(condition present)) and the
    cases' weights ``w``, are added here."""
    finding = net.ordered[o]
    parents = list(finding.parents)
    others = np.setdiff1d(np.arange(len(net.conditions)), parents)
    stats.ordered_cause[o][others, 0] += w @ present[:, others]
    mass = np.vstack([finding.leak[None, :], finding.cause[parents]])
    return parents, mass, np.cumsum(mass, axis=1)


def _add_draws(stats: Statistics, o: int, parents: list[int], mass: np.ndarray, w: np.ndarray, level: np.ndarray,
               ratio_at: np.ndarray, ratio_below: np.ndarray) -> None:
    """Add the expected draws of the ordered finding ``o``'s sources (the leak as column 0 of the
    ratios, then each of ``parents``): ``mass`` ``(1 + P, K)`` is each source's distribution, and
    the ratios ``(cases, 1 + P)`` are ``P(source on, Y_-source <= y, ...) / P(e)`` at ``y`` and at ``y - 1``."""
    K = mass.shape[1]
    states = np.arange(K)
    below = (states[None, :] < level[:, None]).astype(float)                           # (N, K)
    at = (states[None, :] == level[:, None]).astype(float)
    weighted_at = ratio_at * w[:, None]
    weighted_gap = (ratio_at - ratio_below) * w[:, None]
    counts = mass * (weighted_gap.T @ below + weighted_at.T @ at)                       # (1 + P, K)
    stats.ordered_leak[o] += counts[0]
    stats.ordered_cause[o][parents] += counts[1:]


def _ordered_statistics(net: NoisyOrNetwork, engine: ExactEngine, batch: EvidenceBatch, w: np.ndarray,
                        log_ev: np.ndarray, post: np.ndarray, stats: Statistics) -> None:
    """The ordered findings' draws (see the module docstring), with the conditions latent."""
    for o, (finding, level) in enumerate(zip(net.ordered, ordered_levels(net, batch))):
        seen = np.flatnonzero(level >= 0)
        if not seen.size:
            continue
        parents, mass, cdf = _sources(net, o, post[seen], w[seen], stats)
        lowest = seen[level[seen] == 0]
        ones = np.ones((lowest.size, 1))
        _add_draws(stats, o, parents, mass, w[lowest], level[lowest],
                   _divide(np.hstack([ones, post[np.ix_(lowest, parents)]]), cdf[None, :, 0]),
                   np.zeros((lowest.size, 1 + len(parents))))
        higher = seen[level[seen] > 0]
        rows = list(finding.above + finding.step)
        above = np.array(finding.above)
        for start in range(0, higher.size, PAIR_CHUNK):
            c = higher[start:start + PAIR_CHUNK]
            y = level[c]
            sub = _subset(batch, c)
            findings = sub.findings.copy()
            findings[:, rows] = 1.0
            findings[np.arange(c.size), above[y - 1]] = (1.0, 0.0)                          # Y <= y - 1
            with np.errstate(divide="ignore", invalid="ignore"):
                log_b, post_b = engine.query_batch(EvidenceBatch(sub.context, sub.conditions, findings))
            share = np.where(np.isfinite(log_b), np.exp(log_b - log_ev[c]), 0.0)          # P(Y <= y-1, e_-Y) / P(e)
            on_b = np.hstack([share[:, None], np.nan_to_num(post_b[:, parents]) * share[:, None]])
            on_a = np.hstack([np.ones((c.size, 1)), post[np.ix_(c, parents)]]) + on_b     # P(on, Y <= y, e_-Y) / P(e)
            _add_draws(stats, o, parents, mass, w[c], y, _divide(on_a, cdf[:, y].T), _divide(on_b, cdf[:, y - 1].T))


def _finding_statistics(net: NoisyOrNetwork, engine: ExactEngine, batch: EvidenceBatch, w: np.ndarray,
                        log_ev: np.ndarray, post: np.ndarray, stats: Statistics) -> None:
    mb = net.binary_count
    lam = batch.findings[:, :mb, :]
    present = (lam[..., 0] == 0) & (lam[..., 1] > 0)
    absent = (lam[..., 1] == 0) & (lam[..., 0] > 0)
    unobserved = lam[..., 0] == lam[..., 1]
    if np.any(~(present | absent | unobserved)):
        raise EvidenceError("fitting needs hard evidence: a finding's cell is a state name or empty")
    latent = np.zeros_like(present)
    pop_rows = [row for _, row in net.population]
    for members, row in net.population:
        active = (batch.findings[:, row, 0] == 0) & (batch.findings[:, row, 1] > 0)
        for i in members:
            latent[:, i] |= active & unobserved[:, i]
    counted = present | absent | latent
    weighted = counted * w[:, None]
    structure = _structure(net)
    stats.leak_trials += weighted.sum(axis=0)
    stats.link_trials += (weighted.T @ post) * structure
    # fired: one query per (case, present finding) without that finding; one per case with a latent population
    pairs_case, pairs_row = np.nonzero(present)
    latent_cases = np.flatnonzero(latent.any(axis=1))
    cases = np.concatenate([pairs_case, latent_cases])
    rows = np.concatenate([pairs_row, np.full(latent_cases.size, -1)])
    for start in range(0, cases.size, PAIR_CHUNK):
        c, r = cases[start:start + PAIR_CHUNK], rows[start:start + PAIR_CHUNK]
        sub = _subset(batch, c)
        findings = sub.findings.copy()
        hit = r >= 0
        # e_-F = e + (e with F absent): the second is a cheaper query (F absorbed), with no cancellation
        findings[np.flatnonzero(hit), r[hit]] = (1.0, 0.0)
        if pop_rows and not hit.all():
            others = np.flatnonzero(~hit)
            findings[np.ix_(others, pop_rows)] = 1.0
            for i in range(mb):
                flip = others[latent[c[others], i]]
                findings[flip, i] = (1.0, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_flip, post_flip = engine.query_batch(EvidenceBatch(sub.context, sub.conditions, findings))
        share = np.where(np.isfinite(log_flip), np.exp(log_flip - log_ev[c]), 0.0)
        ratio = (1.0 + share) * w[c]                                                # w P(e_-F) / P(e)
        post_without = (post[c] + np.nan_to_num(post_flip) * share[:, None]) / (1.0 + share)[:, None]
        # a present finding's row, or every latent presenting member of the case
        targets_pair, targets_row = [], []
        where = np.flatnonzero(hit)
        targets_pair.append(where)
        targets_row.append(r[hit])
        for i in range(mb):
            lat = np.flatnonzero(~hit & latent[c, i])
            if lat.size:
                targets_pair.append(lat)
                targets_row.append(np.full(lat.size, i))
        pair = np.concatenate(targets_pair)
        row = np.concatenate(targets_row)
        np.add.at(stats.leak_fired, row, net.finding_leak[row] * ratio[pair])
        contribution = net.link[row] * (post_without[pair] * ratio[pair][:, None])     # (P, n)
        np.add.at(stats.link_fired, row, contribution)


def _condition_table(net: NoisyOrNetwork, j: int, states: np.ndarray) -> np.ndarray:
    """P(d_j present | its parents' states) ``(N,)`` for parent states ``(N, len(parents))``."""
    log_absent = np.full(states.shape[0], np.log1p(-net.condition_leak[j]))
    with np.errstate(divide="ignore"):
        for column, k in enumerate(net.risk_parents[j]):
            log_absent = log_absent + np.log1p(-net.risk[k][j, states[:, column]])
    return -np.expm1(log_absent)


def _add_condition(net: NoisyOrNetwork, j: int, states: np.ndarray, weight: np.ndarray, present: np.ndarray,
                   stats: Statistics) -> None:
    """Counts of condition ``j``'s table from cases with parent states ``states`` ``(N, P)``, case weight
    ``weight`` and P(d_j present | e, parents) ``present``."""
    table = _condition_table(net, j, states)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(table > 0, weight * present / table, 0.0)
    stats.condition_trials[j] += weight.sum()
    stats.condition_fired[j] += net.condition_leak[j] * scale.sum()
    for column, k in enumerate(net.risk_parents[j]):
        s = states[:, column]
        cards = len(net.context_states[k])
        stats.risk_trials[k][j] += np.bincount(s, weights=weight, minlength=cards)
        stats.risk_fired[k][j] += net.risk[k][j] * np.bincount(s, weights=scale, minlength=cards)


def _condition_statistics(net: NoisyOrNetwork, engine: ExactEngine, batch: EvidenceBatch, w: np.ndarray,
                          log_ev: np.ndarray, post: np.ndarray, stats: Statistics) -> None:
    known = _known_states(batch)
    posterior_of: dict[int, np.ndarray] = {}      # context node -> (N, S_k) posterior, where some parent set holds it
    by_parents: dict[tuple[int, ...], list[int]] = {}
    for j, parents in enumerate(net.risk_parents):
        by_parents.setdefault(parents, []).append(j)
    for parents, members in by_parents.items():
        if not parents:
            for j in members:
                _add_condition(net, j, np.zeros((len(w), 0), dtype=int), w, post[:, j], stats)
            continue
        states = np.stack([known[k] for k in parents], axis=1)                     # (N, P)
        full = np.all(states >= 0, axis=1)
        rows = np.flatnonzero(full)
        for j in members:
            _add_condition(net, j, states[rows], w[rows], post[rows, j], stats)
        marginal = {k: np.zeros((len(w), len(net.context_states[k]))) for k in parents}
        for k in parents:
            marginal[k][rows, known[k][rows]] = 1.0
        rest = np.flatnonzero(~full)
        if rest.size:
            sub = _subset(batch, rest)
            for config in itertools.product(*(range(len(net.context_states[k])) for k in parents)):
                context = list(sub.context)
                possible = np.ones(rest.size, dtype=bool)
                for k, s in zip(parents, config):
                    clamp = np.zeros_like(context[k])
                    clamp[:, s] = context[k][:, s]
                    possible &= clamp[:, s] > 0
                    context[k] = clamp
                idx = np.flatnonzero(possible)
                if not idx.size:
                    continue
                clamped = EvidenceBatch(tuple(c[idx] for c in context), sub.conditions[idx], sub.findings[idx])
                with np.errstate(divide="ignore", invalid="ignore"):
                    log_c, post_c = engine.query_batch(clamped)
                share = np.where(np.isfinite(log_c), np.exp(log_c - log_ev[rest[idx]]), 0.0)
                weight = w[rest[idx]] * share
                config_states = np.tile(np.array(config), (idx.size, 1))
                for j in members:
                    _add_condition(net, j, config_states, weight, np.nan_to_num(post_c[:, j]), stats)
                for k, s in zip(parents, config):
                    marginal[k][rest[idx], s] += share
        for k in parents:
            posterior_of.setdefault(k, marginal[k])
    for k, states_k in enumerate(net.context_states):
        if k in posterior_of:
            stats.context[k] += w @ posterior_of[k]
        else:
            observed = known[k] >= 0
            counts = np.bincount(known[k][observed], weights=w[observed], minlength=len(states_k)).astype(float)
            counts += w[~observed].sum() * net.context_prior[k]
            stats.context[k] += counts


def _closed_ordered(net: NoisyOrNetwork, batch: EvidenceBatch, w: np.ndarray, d: np.ndarray, stats: Statistics) -> None:
    """The ordered findings' draws with the conditions known: with ``F_-j(t) = L(<= t) prod_{k != j}
    C_k(<= t)^d_k`` (the largest draw but ``j``'s), cause ``j`` drew ``y`` with probability
    ``c_j(y) F_-j(y) / P(y | d)`` and ``s < y`` with ``c_j(s) (F_-j(y) - F_-j(y-1)) / P(y | d)``."""
    for o, (finding, level) in enumerate(zip(net.ordered, ordered_levels(net, batch))):
        seen = np.flatnonzero(level >= 0)
        if not seen.size:
            continue
        parents, mass, cdf = _sources(net, o, d[seen].astype(float), w[seen], stats)
        y, dp, ws = level[seen], d[np.ix_(seen, parents)], w[seen]
        K, rows = len(finding.states), np.arange(seen.size)
        factor = np.where(dp[:, :, None], cdf[None, 1:, :], 1.0)                        # (N, P, K)
        factor = np.concatenate([np.broadcast_to(cdf[0], (seen.size, 1, K)), factor], axis=1)
        ones = np.ones((seen.size, 1, K))
        before = np.cumprod(np.concatenate([ones, factor[:, :-1]], axis=1), axis=1)    # products of the sources before
        after = np.cumprod(np.concatenate([ones, factor[:, :0:-1]], axis=1), axis=1)[:, ::-1]
        without = before * after                                                       # (N, 1 + P, K): F_-source(t)
        total = factor.prod(axis=1)                                                    # (N, K): F(t)
        prior_total = np.where(y > 0, total[rows, np.maximum(y - 1, 0)], 0.0)
        p_y = total[rows, y] - prior_total
        on = np.hstack([np.ones((seen.size, 1)), dp.astype(float)])
        at = without[rows, :, y]
        below = np.where((y > 0)[:, None], without[rows, :, np.maximum(y - 1, 0)], 0.0)
        ratio_at = on * _divide(at, p_y[:, None])
        ratio_below = on * _divide(below, p_y[:, None])
        _add_draws(stats, o, parents, mass, ws, y, ratio_at, ratio_below)


def _closed_statistics(net: NoisyOrNetwork, batch: EvidenceBatch, w: np.ndarray, stats: Statistics, labels,
                       rows: np.ndarray) -> None:
    """Cases whose context and conditions are all observed: everything in closed form.

    Given the conditions every engine row is an independent noisy-OR, so
    ``log P(e) = log P(c) + sum_j log P(d_j | c) + sum_r log(lam0 a_r + lam1 (1 - a_r))`` with
    ``a_r = (1 - L_r) prod_j (1 - p_rj)^d_j``, and a present finding was fired by cause ``j`` with
    probability ``d_j p_j / (1 - a)`` (by its leak: ``L / (1 - a)``).
    """
    d = batch.conditions[:, :, 1] > 0                                               # (N, n) the labels
    df = d.astype(float)
    with np.errstate(divide="ignore"):
        log_b = np.maximum(np.log1p(-net.link), -1e300)
        log_a = np.log1p(-net.finding_leak)[None, :] + df @ log_b.T                  # (N, m): log P(row absent | d)
    a = np.exp(log_a)
    lam0, lam1 = batch.findings[..., 0], batch.findings[..., 1]
    with np.errstate(divide="ignore"):
        log_rows = np.log(lam0 * a + lam1 * -np.expm1(log_a)).sum(axis=1)
        log_context = sum(np.log(np.sum(c * p[None, :], axis=1)) for c, p in zip(batch.context, net.context_prior))
    known = _known_states(batch)
    log_conditions = np.zeros(len(w))
    for j, parents in enumerate(net.risk_parents):
        table = _condition_table(net, j, np.stack([known[k] for k in parents], axis=1) if parents
                                 else np.zeros((len(w), 0), dtype=int))
        with np.errstate(divide="ignore"):
            log_conditions += np.where(d[:, j], np.log(table), np.log1p(-table))
    log_ev = log_context + log_conditions + log_rows
    bad = ~np.isfinite(log_ev)
    if bad.any():
        names = [str(labels[r]) if labels is not None else str(r + 1) for r in rows[np.flatnonzero(bad)][:5]]
        raise EvidenceError(f"{bad.sum()} case(s) have evidence that is impossible under the model (probability "
                            f"zero), e.g. {', '.join(names)}; score them to see which items cannot hold together")
    stats.log_likelihood += float(np.dot(w, log_ev))
    stats.cases += float(w.sum())
    # findings
    mb = net.binary_count
    lamb = batch.findings[:, :mb, :]
    present = (lamb[..., 0] == 0) & (lamb[..., 1] > 0)
    absent = (lamb[..., 1] == 0) & (lamb[..., 0] > 0)
    unobserved = lamb[..., 0] == lamb[..., 1]
    if np.any(~(present | absent | unobserved)):
        raise EvidenceError("fitting needs hard evidence: a finding's cell is a state name or empty")
    fired_by = present / np.maximum(-np.expm1(log_a[:, :mb]), 1e-300)               # 1 / P(F present | d)
    for members, row in net.population:
        active = (batch.findings[:, row, 0] == 0) & (batch.findings[:, row, 1] > 0)
        scale = 1.0 / np.maximum(-np.expm1(log_a[:, row]), 1e-300)                  # 1 / P(population | d)
        for i in members:
            latent = active & unobserved[:, i]
            present[:, i] |= latent
            fired_by[:, i] = np.where(latent, scale, fired_by[:, i])
    counted = present | absent
    weighted = counted * w[:, None]
    structure = _structure(net)
    stats.leak_trials += weighted.sum(axis=0)
    stats.link_trials += (weighted.T @ df) * structure
    fired = fired_by * w[:, None]                                                   # (N, mb)
    stats.leak_fired += net.finding_leak[:mb] * fired.sum(axis=0)
    stats.link_fired += net.link[:mb] * (fired.T @ df)
    _closed_ordered(net, batch, w, d, stats)
    # conditions: the parents are known
    for j, parents in enumerate(net.risk_parents):
        states = np.stack([known[k] for k in parents], axis=1) if parents else np.zeros((len(w), 0), dtype=int)
        _add_condition(net, j, states, w, df[:, j], stats)
    for k, states_k in enumerate(net.context_states):
        stats.context[k] += np.bincount(known[k], weights=w, minlength=len(states_k))
