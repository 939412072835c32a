"""The ordered findings' part of the fit: each noisy-MAX table as a function of its records.

An ordered finding's records are its leak's probabilities above the lowest state, ``L(s)``, and for
each cause the probability of a state with that cause alone, leak included, ``T_j(s)``; the lowest
state of each takes what is left, and a state a cause has no record for stays at the leak's
(:func:`~bayesnet.knowledge.network.compile_knowledge`). The table's own distributions follow:
``C_j(<= s) = T_j(<= s) / L(<= s)``, which the knowledge base requires to be at most 1 and
non-decreasing in ``s`` (a cause can only raise the finding): that is the feasible set of a
table's records, and every step of the fit stays in it. The fit works on the records' readings directly (their prior
is on that scale), so a table is rebuilt from a vector ``r`` of its records.

The E-step (:mod:`bayesnet.learning.statistics`) counts the draws of the leak and of each cause,
``N_L(s)`` and ``N_j(s)``, so the expected complete-data log likelihood of a table is
``Q(r) = sum_s N_L(s) log L(s) + sum_j sum_s N_j(s) log c_j(s)``, with ``c_j`` the cause's own
distribution. Its gradient (:meth:`OrderedTable.gradient`, by the chain rule through the cumulative
sums) is the score of the observed-data log likelihood at the current numbers (Fisher's identity),
which the intervals need. The M-step maximises ``Q`` plus the records' log prior one record at a
time, on a grid then a finer one around the best point, keeping the current value unless a
candidate is at least as good: each step raises its part of the objective, so EM stays monotone.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bayesnet.knowledge.network import NoisyOrNetwork, OrderedFinding, alone_from_cause, cause_from_alone, \
    complete_distribution

__all__ = ["OrderedTable", "ordered_tables", "tables_of", "ORDERED_KINDS"]

ORDERED_KINDS = ("ordered_leak", "ordered_link")
#: coordinate sweeps over a table's records per M-step
SWEEPS = 2
#: slack on the noisy-MAX constraint: a tenth of the knowledge base's (1e-12), so a fitted folder loads
TOLERANCE = 1e-13


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.maximum(x, 0.0))


def _weighted_log(counts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``counts * log(x)`` with ``0 log 0 = 0`` (and ``-inf`` where a count meets a zero)."""
    with np.errstate(invalid="ignore"):
        return np.where(counts != 0, counts * _log(x), 0.0)


class OrderedTable:
    """One ordered finding's records as a vector ``r`` (see the module docstring).

    ``units`` are the indices (in the fit's list of units) of this finding's records; ``cells`` says
    for each whether it is the leak's state ``s`` (``(-1, s)``) or parent ``p``'s (``(p, s)``, ``p``
    indexing ``finding.parents``). Entries without a record keep ``network``'s readings.
    """

    def __init__(self, o: int, network: NoisyOrNetwork, units: Sequence[int], cells: Sequence[tuple[int, int]]):
        finding: OrderedFinding = network.ordered[o]
        self.o = o
        self.finding = finding
        self.units = np.asarray(units, dtype=int)
        self.cells = list(cells)
        self.parents = list(finding.parents)
        self.given = finding.given[self.parents]                                      # (P, K)
        self.base_leak = finding.leak.copy()
        self.base_alone = alone_from_cause(finding.cause, finding.leak)[self.parents]  # (P, K)
        self.leak_cells = [(i, s) for i, (p, s) in enumerate(self.cells) if p < 0]
        self.link_cells = [(i, p, s) for i, (p, s) in enumerate(self.cells) if p >= 0]

    def tables(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For records ``r`` ``(..., R)``: the leak ``(..., K)``, each parent's alone and own
        distributions ``(..., P, K)`` and whether the records make distributions at all ``(...,)``."""
        r = np.asarray(r, float)
        shape = r.shape[:-1]
        leak = np.broadcast_to(self.base_leak, shape + self.base_leak.shape).copy()
        for i, s in self.leak_cells:
            leak[..., s] = r[..., i]
        leak = complete_distribution(leak)
        alone = np.broadcast_to(self.base_alone, shape + self.base_alone.shape).copy()
        for i, p, s in self.link_cells:
            alone[..., p, s] = r[..., i]
        alone = complete_distribution(np.where(self.given, alone, leak[..., None, :]))
        leak_cdf = np.cumsum(leak, axis=-1)[..., None, :-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.cumsum(alone, axis=-1)[..., :-1] / leak_cdf
        # as the knowledge base requires: a cause can only raise the finding
        valid = (leak[..., 0] > 0) & np.all(alone[..., 0] >= 0, axis=-1) & \
            np.all(ratio <= 1 + TOLERANCE, axis=(-1, -2)) & np.all(np.diff(ratio, axis=-1) >= -TOLERANCE, axis=(-1, -2))
        cause = cause_from_alone(alone, leak)
        return leak, alone, cause, valid

    def data(self, r: np.ndarray, leak_counts: np.ndarray, cause_counts: np.ndarray) -> np.ndarray:
        """``Q(r)`` ``(...,)`` for counts of the leak's draws ``(K,)`` and the parents' ``(P, K)``."""
        leak, _, cause, valid = self.tables(r)
        total = _weighted_log(leak_counts, leak).sum(axis=-1) + _weighted_log(cause_counts, cause).sum(axis=(-1, -2))
        return np.where(valid, total, -np.inf)

    def gradient(self, r: np.ndarray, leak_counts: np.ndarray, cause_counts: np.ndarray) -> np.ndarray:
        """``dQ/dr`` ``(R,)`` at records ``r`` (within the feasible set, where ``C_j = T_j / L`` holds
        without clipping)."""
        leak, alone, cause, _ = self.tables(r)
        K = leak.shape[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            g_leak = np.where(leak_counts != 0, leak_counts / leak, 0.0)
            g_cause = np.where(cause_counts != 0, cause_counts / cause, 0.0)
        leak_cdf = np.cumsum(leak)[:K - 1]
        cause_cdf = np.cumsum(cause, axis=-1)[:, :K - 1]
        d_cause_cdf = g_cause[:, :K - 1] - g_cause[:, 1:]                              # dQ/dC_j(<= t)
        d_alone_cdf = d_cause_cdf / leak_cdf                                          # dQ/dT_j(<= t)
        d_leak_cdf = g_leak[:K - 1] - g_leak[1:] - (d_cause_cdf * cause_cdf).sum(axis=0) / leak_cdf
        # a state's entry sits in every cumulative sum from its own state up
        d_alone = np.concatenate([np.cumsum(d_alone_cdf[:, ::-1], axis=1)[:, ::-1], np.zeros((len(self.parents), 1))],
                                 axis=1)
        d_leak = np.concatenate([np.cumsum(d_leak_cdf[::-1])[::-1], [0.0]])
        out = np.zeros(len(self.cells))
        for i, s in self.leak_cells:
            follow = ~self.given[:, s]
            out[i] = d_leak[s] - d_leak[0] + float((d_alone[follow, s] - d_alone[follow, 0]).sum())
        for i, p, s in self.link_cells:
            out[i] = d_alone[p, s] - d_alone[p, 0]
        return out

    def maximise(self, r: np.ndarray, leak_counts: np.ndarray, cause_counts: np.ndarray, free: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray, log_prior: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
        """One M-step: coordinate ascent on ``Q(r) + sum log prior`` over the ``free`` records, each
        within ``[lo, hi]``; ``log_prior(i, x)`` is record ``i``'s log prior density at ``x``."""
        r = np.asarray(r, float).copy()
        for _ in range(SWEEPS):
            for i in np.flatnonzero(free):
                if hi[i] <= lo[i]:
                    continue

                def objective(x: np.ndarray) -> np.ndarray:
                    candidates = np.repeat(r[None, :], len(x), axis=0)
                    candidates[:, i] = x
                    return self.data(candidates, leak_counts, cause_counts) + log_prior(i, x)

                grid = np.linspace(lo[i], hi[i], 33)
                score = objective(grid)
                best = int(np.argmax(score))
                fine = np.linspace(grid[max(best - 1, 0)], grid[min(best + 1, 32)], 33)
                fine_score = objective(fine)
                x = fine[int(np.argmax(fine_score))]
                here = float(objective(np.array([r[i]]))[0]) if lo[i] <= r[i] <= hi[i] else -np.inf
                if float(fine_score.max()) >= here and np.isfinite(fine_score.max()):
                    r[i] = x
        return r


def tables_of(network: NoisyOrNetwork, units: Sequence) -> list[OrderedTable]:
    """An :class:`OrderedTable` for each ordered finding with records among ``units`` (the fit's
    units: ``ordered_leak`` indexed ``(o, s)``, ``ordered_link`` indexed ``(o, j, s)``)."""
    grouped: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}
    for u, unit in enumerate(units):
        if unit.kind not in ORDERED_KINDS:
            continue
        o = unit.index[0]
        members, cells = grouped.setdefault(o, ([], []))
        members.append(u)
        if unit.kind == "ordered_leak":
            cells.append((-1, unit.index[1]))
        else:
            cells.append((network.ordered[o].parents.index(unit.index[1]), unit.index[2]))
    return [OrderedTable(o, network, members, cells) for o, (members, cells) in sorted(grouped.items())]


def ordered_tables(network: NoisyOrNetwork, tables: Sequence[OrderedTable],
                   values: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every ordered finding's ``(leak, cause)`` with the records of ``tables`` set from ``values``
    (the fit's vector of numbers); findings without a table keep ``network``'s."""
    out = [(o.leak, o.cause) for o in network.ordered]
    for table in tables:
        leak, _, cause_parents, _ = table.tables(values[table.units])
        cause = network.ordered[table.o].cause.copy()
        cause[table.parents] = cause_parents
        out[table.o] = (leak, cause)
    return out
