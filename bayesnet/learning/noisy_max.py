"""The ordered findings' part of the fit: each noisy-MAX table as a function of its records.

An ordered finding's records are its leak's probabilities above the lowest state, ``L(s)``, and for
each cause the probability of a state with that cause alone, leak included, ``T_j(s)``; the lowest
state of each takes what is left, and a state a cause has no record for stays at the leak's
(:func:`~bayesnet.knowledge.network.compile_knowledge`). The table's own distributions follow:
``C_j(<= s) = T_j(<= s) / L(<= s)``, clipped to at most 1 and made non-decreasing in ``s`` (a cause
can only raise the finding), as the knowledge base compiles drawn values
(:func:`~bayesnet.knowledge.network.cause_from_alone`). The fit works on the records' readings (their
prior is on that scale): a vector ``r`` of a table's records gives its table, and the table gives
back the *canonical* records ``T_j(<= s) = L(<= s) C_j(<= s)``, which keep the knowledge base's
constraint. A record moved below the leak (or the leak above a record) is thus lifted to the leak's
level, as the leak of a binary finding carries a link no case informs. Every number the fit keeps
is canonical, and a table whose canonical records leave their ranges is out of bounds.

The E-step (:mod:`bayesnet.learning.statistics`) counts the draws of the leak and of each cause,
``N_L(s)`` and ``N_j(s)``, so the expected complete-data log likelihood of a table is
``Q(r) = sum_s N_L(s) log L(s) + sum_j sum_s N_j(s) log c_j(s)``, with ``c_j`` the cause's own
distribution. Its gradient (:meth:`OrderedTable.gradient`, by the chain rule through the cumulative
sums, where no clipping acts) is the score of the observed-data log likelihood at the current
numbers (Fisher's identity), which the intervals need. The M-step maximises ``Q`` plus the canonical
records' log prior one record at a time (for a cause's record, with the clipping idle, a concave
problem: ``c_j`` is linear in it), by a grid and then a narrowing search, keeping the current value
unless a candidate is better by more than rounding: each step raises its part of the objective, so
EM stays monotone.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bayesnet.knowledge.network import NoisyOrNetwork, OrderedFinding, alone_from_cause, cause_from_alone, \
    complete_distribution

__all__ = ["OrderedTable", "ordered_tables", "tables_of", "ORDERED_KINDS", "MIN_TRIALS"]

ORDERED_KINDS = ("ordered_leak", "ordered_link")
#: coordinate sweeps over a table's records per M-step
SWEEPS = 1
#: the expected number of cases with its cause present (the leak: observing the finding) below which
#: an ordered finding's record is not fitted: with almost no cases its objective is flat, and where
#: it ends would follow rounding
MIN_TRIALS = 1e-3
#: at most this many narrowing rounds of the one-dimensional search (each 32-fold)
ROUNDS = 10


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

    def tables(self, r: np.ndarray, rows: Sequence[int] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For records ``r`` ``(..., R)``: the leak ``(..., K)``, the own distributions ``(..., P, K)``
        of the parents ``rows`` (default: all, in order) and whether the leak is a distribution with
        its lowest state possible ``(...,)``."""
        r = np.asarray(r, float)
        rows = list(range(len(self.parents))) if rows is None else list(rows)
        shape = r.shape[:-1]
        leak = np.broadcast_to(self.base_leak, shape + self.base_leak.shape).copy()
        for i, s in self.leak_cells:
            leak[..., s] = r[..., i]
        leak = complete_distribution(leak)
        given = self.given[rows]
        alone = np.broadcast_to(self.base_alone[rows], shape + given.shape).copy()
        where = {p: q for q, p in enumerate(rows)}
        for i, p, s in self.link_cells:
            if p in where:
                alone[..., where[p], s] = r[..., i]
        alone = complete_distribution(np.where(given, alone, leak[..., None, :]))
        valid = (leak[..., 0] > 0) & np.all(leak >= 0, axis=-1)
        return leak, cause_from_alone(alone, leak), valid

    def canonical(self, r: np.ndarray, rows: Sequence[int] | None = None) -> np.ndarray:
        """The canonical records ``(..., R)`` of records ``r``: the readings of their table (the
        link records of parents outside ``rows`` are left as they are)."""
        r = np.asarray(r, float)
        rows = list(range(len(self.parents))) if rows is None else list(rows)
        leak, cause, _ = self.tables(r, rows)
        alone = np.diff(np.cumsum(leak, axis=-1)[..., None, :] * np.cumsum(cause, axis=-1), axis=-1, prepend=0.0)
        out = r.copy()
        for i, s in self.leak_cells:
            out[..., i] = leak[..., s]
        where = {p: q for q, p in enumerate(rows)}
        for i, p, s in self.link_cells:
            if p in where:
                out[..., i] = alone[..., where[p], s]
        return out

    def data(self, r: np.ndarray, leak_counts: np.ndarray, cause_counts: np.ndarray,
             parent: int | None = None) -> np.ndarray:
        """``Q(r)`` ``(...,)`` for counts of the leak's draws ``(K,)`` and the parents' ``(P, K)``;
        with ``parent``, only that parent's terms (all that its own records change: summing the
        others would drown a parent with few cases in their rounding)."""
        if parent is not None:
            _, cause, valid = self.tables(r, [parent])
            return np.where(valid, _weighted_log(cause_counts[parent], cause[..., 0, :]).sum(axis=-1), -np.inf)
        leak, cause, valid = self.tables(r)
        total = _weighted_log(leak_counts, leak).sum(axis=-1) + _weighted_log(cause_counts, cause).sum(axis=(-1, -2))
        return np.where(valid, total, -np.inf)

    def gradient(self, r: np.ndarray, leak_counts: np.ndarray, cause_counts: np.ndarray) -> np.ndarray:
        """``dQ/dr`` ``(R,)`` at records ``r`` (within the feasible set, where ``C_j = T_j / L`` holds
        without clipping)."""
        leak, cause, _ = self.tables(r)
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
        """One M-step: coordinate ascent on ``Q(r)`` plus the canonical records' log prior over the
        ``free`` records; every canonical record stays within ``[lo, hi]``; ``log_prior(i, x)`` is
        record ``i``'s log prior density at ``x`` (0 for a record the fit leaves out). Returns
        canonical records."""
        r = self.canonical(np.asarray(r, float))
        parent_of = {i: p for i, p, _ in self.link_cells}
        cells_of = {p: [i for i, q, _ in self.link_cells if q == p] for p in range(len(self.parents))}
        every = list(range(len(self.cells)))
        for _ in range(SWEEPS):
            for i in np.flatnonzero(free):
                if hi[i] <= lo[i]:
                    continue
                parent = parent_of.get(i)
                rows = None if parent is None else [parent]
                touched = every if parent is None else cells_of[parent]

                def objective(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                    candidates = np.repeat(r[None, :], len(x), axis=0)
                    candidates[:, i] = x
                    candidates = self.canonical(candidates, rows)
                    total = self.data(candidates, leak_counts, cause_counts, parent)
                    for j in touched:
                        value = candidates[:, j]
                        inside = (value >= lo[j] - 1e-12) & (value <= hi[j] + 1e-12)
                        total = np.where(inside, total + log_prior(j, np.clip(value, lo[j], hi[j])), -np.inf)
                    return total, candidates

                x, best = _search(lambda x: objective(x)[0], lo[i], hi[i])
                here = float(objective(np.array([r[i]]))[0][0])
                # a record moves only for a gain above rounding: one the cases say (almost) nothing
                # about, whose objective is flat, stays where it is
                if np.isfinite(best) and (best > here + 1e-12 * max(1.0, abs(here)) or not np.isfinite(here)):
                    r = objective(np.array([x]))[1][0]
        return r


def _search(objective: Callable[[np.ndarray], np.ndarray], lo: float, hi: float) -> tuple[float, float]:
    """The maximiser of ``objective`` on ``[lo, hi]`` and its value: the best of a grid of 65, then
    rounds of 65 points over its two neighbouring intervals, each round narrowing the bracket 32-fold,
    until it is 1e-12 of the range or after ``ROUNDS`` rounds (so the answer moves continuously with
    the counts)."""
    grid = np.linspace(lo, hi, 65)
    score = objective(grid)
    b = int(np.argmax(score))
    left, right = grid[max(b - 1, 0)], grid[min(b + 1, 64)]
    x, best = grid[b], float(score[b])
    for _ in range(ROUNDS):
        if not right - left > 1e-12 * (hi - lo):
            break
        grid = np.linspace(left, right, 65)
        score = objective(grid)
        b = int(np.argmax(score))
        if score[b] >= best:
            x, best = grid[b], float(score[b])
        left, right = grid[max(b - 1, 0)], grid[min(b + 1, 64)]
    return float(x), best


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
        leak, cause_parents, _ = table.tables(values[table.units])
        cause = network.ordered[table.o].cause.copy()
        cause[table.parents] = cause_parents
        out[table.o] = (leak, cause)
    return out
