"""The compiled kernel: one evidence set, every posterior, in a single pass of machine code.

A single query on the real network is a few thousand multiply-adds. Written as array operations it
costs a hundred or more numpy calls, and their overhead, not the arithmetic, sets the time. This
module does the same exact computation as :mod:`bayesnet.inference.engine` in one function compiled by numba:

1. Findings are read once: a finding with ``lam0 = lam1`` is a constant; a negative one is a constant
   and a factor ``1 - p_kj`` on each cause's *present* weight; the others (positive or soft) are
   *slots*, with weights ``w0`` (no cause activated it; the leak may still have) and ``w1``.
2. For each hub configuration ``a`` (see :mod:`bayesnet.inference.context`) each condition has weights
   ``h0 = P(absent | a, s) mu0`` and ``h1 = P(present | a, s) u mu1`` (``s`` its satellite's state,
   ``u`` the product of its negative findings' factors), normalised to ``q0 + q1 = 1``.
3. The conditions that can activate a slot are *swept* (:mod:`bayesnet.inference.sweep` gives the method): the
   state is a vector over which open slots some present cause has already activated, one bit per
   slot, each slot open only between its first and its last cause. A satellite group is visited as
   a block, with one state vector per satellite state; with more than ``GREEDY_SLOTS`` slots the
   blocks are ordered greedily to keep few slots open (a group's members keep their index order).
   Every number added is non-negative, so nothing cancels for any number of positive findings.
4. A backward pass gives each swept condition's posterior, and each swept group's satellite
   posterior, as a ratio of two inner products taken at the same step, so the power-of-two rescaling
   that keeps the vectors away from underflow cancels exactly.
5. The conditions not swept have closed forms; the hub configurations are combined in log space.

The kernel returns a status: answered, evidence impossible (found before the sweep: a finding or
context node that nothing can explain), or *declined*: more slots open at once than ``MAX_OPEN``,
or a number that linear arithmetic could have lost to underflow (a weight below ``TINY``, a state
vector below ``FLOOR`` after a slot closes, an inner product below ``FLOOR_INNER``; an exact zero
there counts too, as it may be an underflow). Declined queries are answered by the general
vectorised path of :mod:`bayesnet.inference.engine`, which works in logs. The tests hold both to
brute-force enumeration.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from bayesnet.inference.context import ContextStructure
from bayesnet.inference.jit import njit

__all__ = ["KernelTables", "ANSWERED", "IMPOSSIBLE", "DECLINED", "MAX_OPEN", "query_one", "query_rows",
           "query_parameter_rows", "cause_lists"]

ANSWERED, IMPOSSIBLE, DECLINED = 0, 1, 2
#: at most this many slots open at once (the state vectors hold ``2**MAX_OPEN`` numbers each)
MAX_OPEN = 12
#: a weight below this is declined to the general path (linear products could underflow)
TINY = 1e-100
#: a state vector whose largest entry falls below this is rescaled by a power of two
RESCALE_BELOW = 1e-100
#: entries of a state vector can underflow (below about 1e-308) where a path through the conditions
#: has tiny weights; that loses nothing while the vector's largest entry, once a slot is closed,
#: stays above FLOOR, and an inner product giving a posterior stays above FLOOR_INNER. Otherwise the
#: query is declined (a zero after a close counts: it may be an underflow)
FLOOR = 1e-290
FLOOR_INNER = 1e-250
#: with more slots than this the order of the swept blocks is chosen greedily
GREEDY_SLOTS = 8

_ENTER, _COND, _CLOSE, _EXIT = 0, 1, 2, 3
_LN2 = math.log(2.0)


def cause_lists(link: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each finding's causes as compressed rows: ``start`` ``(m + 1,)``, ``cause`` ``(E,)`` and the
    link probabilities ``(..., E)``. ``link`` is ``(..., m, n)``; with leading (parameter-set) axes
    the causes are those with a non-zero link in any set (a zero link is an edge that never fires)."""
    link = np.asarray(link, dtype=np.float64)
    pattern = (link.reshape((-1,) + link.shape[-2:]) > 0).any(axis=0)
    rows, cols = np.nonzero(pattern)
    start = np.zeros(link.shape[-2] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=link.shape[-2]), out=start[1:])
    return start, cols.astype(np.int64), np.ascontiguousarray(link[..., rows, cols])


@dataclass(frozen=True, eq=False)
class KernelTables:
    """A network's numbers laid out for the kernel, and the calls that answer evidence with them.

    ``prior``, ``p_absent``, ``p_present``, ``leak`` and ``cause_p`` carry a leading axis of
    parameter sets (1 for a single network); the structure arrays are shared.
    """

    prior: np.ndarray            # (B, T + 1)
    hub_index: np.ndarray        # (A, H)
    satellite_index: np.ndarray  # (G, W)
    satellite_size: np.ndarray   # (G,)
    unused_start: np.ndarray     # (U,)
    unused_stop: np.ndarray      # (U,)
    group: np.ndarray            # (n,)
    p_absent: np.ndarray         # (B, A, n, W)
    p_present: np.ndarray        # (B, A, n, W)
    leak: np.ndarray             # (B, m)
    cause_start: np.ndarray      # (m + 1,)
    cause: np.ndarray            # (E,)
    cause_p: np.ndarray          # (B, E)

    @classmethod
    def build(cls, structure: ContextStructure, prior: np.ndarray, log_absent: np.ndarray, link: np.ndarray,
              leak: np.ndarray) -> KernelTables:
        """From the engine's arrays, each with a leading axis of parameter sets: ``prior``
        ``(B, T + 1)``, ``log_absent`` ``(B, A, n, W)``, ``link`` ``(B, m, n)``, ``leak`` ``(B, m)``."""
        s = structure
        start, cause, cause_p = cause_lists(link)
        contiguous = np.ascontiguousarray
        return cls(
            prior=contiguous(prior, dtype=np.float64),
            hub_index=contiguous(s.hub_index, dtype=np.int64).reshape(s.hub_size, len(s.hub)),
            satellite_index=contiguous(s.satellite_index, dtype=np.int64).reshape(len(s.satellites), s.width),
            satellite_size=np.array([s.cards[k] for k in s.satellites], dtype=np.int64),
            unused_start=np.array([s.offsets[k] for k in s.unused], dtype=np.int64),
            unused_stop=np.array([s.offsets[k + 1] for k in s.unused], dtype=np.int64),
            group=contiguous(s.group, dtype=np.int64),
            p_absent=contiguous(np.exp(log_absent)),
            p_present=contiguous(-np.expm1(log_absent)),
            leak=contiguous(leak, dtype=np.float64),
            cause_start=start, cause=cause, cause_p=cause_p)

    @property
    def n(self) -> int:
        return int(self.group.shape[0])

    def _shared(self) -> tuple:
        return (self.hub_index, self.satellite_index, self.satellite_size, self.unused_start, self.unused_stop,
                self.group)

    def one(self, context: np.ndarray, conditions: np.ndarray, findings: np.ndarray
            ) -> tuple[int, float, np.ndarray]:
        """Status, log P(evidence) and posteriors for one evidence set, with parameter set 0."""
        posterior = np.empty(self.n)
        status, log_evidence = query_one(self.prior[0], *self._shared(), self.p_absent[0], self.p_present[0],
                                         self.leak[0], self.cause_start, self.cause, self.cause_p[0],
                                         context, conditions, findings, posterior)
        return status, log_evidence, posterior

    def rows(self, context: np.ndarray, conditions: np.ndarray, findings: np.ndarray, workers: int = 1
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Status ``(N,)``, log P(evidence) ``(N,)`` and posteriors ``(N, n)`` for N evidence sets
        (``(N, T + 1)``, ``(N, n, 2)``, ``(N, m, 2)``), with parameter set 0. ``workers`` threads
        answer contiguous chunks; every row is computed exactly as alone."""
        N = context.shape[0]
        status = np.empty(N, np.int64)
        log_evidence = np.empty(N)
        posterior = np.empty((N, self.n))
        arguments = (self.prior[0], *self._shared(), self.p_absent[0], self.p_present[0], self.leak[0],
                     self.cause_start, self.cause, self.cause_p[0])

        def chunk(r: slice) -> None:
            query_rows(*arguments, context[r], conditions[r], findings[r], status[r], log_evidence[r], posterior[r])

        _in_threads(chunk, N, workers)
        return status, log_evidence, posterior

    def parameter_rows(self, context: np.ndarray, conditions: np.ndarray, findings: np.ndarray, workers: int = 1
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Status, log P(evidence) and posteriors ``(B, ...)`` for one evidence set under every parameter set."""
        B = self.prior.shape[0]
        status = np.empty(B, np.int64)
        log_evidence = np.empty(B)
        posterior = np.empty((B, self.n))

        def chunk(r: slice) -> None:
            query_parameter_rows(self.prior[r], *self._shared(), self.p_absent[r], self.p_present[r], self.leak[r],
                                 self.cause_start, self.cause, self.cause_p[r], context, conditions, findings,
                                 status[r], log_evidence[r], posterior[r])

        _in_threads(chunk, B, workers)
        return status, log_evidence, posterior


#: rows below which a batch is not worth splitting across threads
_ROWS_PER_THREAD = 256


def _in_threads(work, rows: int, workers: int) -> None:
    """Call ``work(slice)`` on contiguous chunks of ``range(rows)``, in ``workers`` threads (the
    compiled loops release the interpreter lock)."""
    workers = max(1, min(workers, rows // _ROWS_PER_THREAD))
    if workers == 1:
        work(slice(0, rows))
        return
    bounds = np.linspace(0, rows, 4 * workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]))


@njit(nogil=True)
def _rescale(state, rows, log_scale):
    """Multiply ``state[:rows]`` by a power of two if its largest entry is below ``RESCALE_BELOW``;
    returns the new log scale and whether the largest entry was at least ``FLOOR``."""
    top = 0.0
    for s in range(rows):
        for x in range(state.shape[1]):
            if state[s, x] > top:
                top = state[s, x]
    if top < FLOOR:
        return log_scale, False
    if top < RESCALE_BELOW:
        exponent = math.frexp(top)[1]
        factor = math.ldexp(1.0, -exponent)
        for s in range(rows):
            for x in range(state.shape[1]):
                state[s, x] *= factor
        log_scale += exponent * _LN2
    return log_scale, True


@njit(nogil=True)
def _activate(vector, bits, probabilities, first, last):
    """In place: each edge ``e`` in ``first:last`` fires its slot's bit with its probability."""
    size = vector.shape[0]
    for e in range(first, last):
        bit = bits[e]
        p = probabilities[e]
        keep = 1.0 - p
        for x in range(size):
            if x & bit == 0:
                v = vector[x]
                vector[x | bit] += p * v
                vector[x] = keep * v


@njit(nogil=True)
def _activate_adjoint(vector, bits, probabilities, first, last):
    """In place: the transpose of :func:`_activate` (the edges act on distinct bits, so they commute)."""
    size = vector.shape[0]
    for e in range(first, last):
        bit = bits[e]
        p = probabilities[e]
        keep = 1.0 - p
        for x in range(size):
            if x & bit == 0:
                vector[x] = keep * vector[x] + p * vector[x | bit]


@njit(nogil=True)
def query_one(prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
              p_absent, p_present, leak, cause_start, cause, cause_p,
              context, conditions, findings, posterior):
    """Answer one evidence set; see the module docstring.

    Parameters
    ----------
    prior
        ``(T + 1,)`` every context state's prior, then 0 (the padding entry).
    hub_index, satellite_index, satellite_size
        ``(A, H)`` and ``(G, W)`` positions in the context vector (padding: ``T``), ``(G,)`` states.
    unused_start, unused_stop
        Where each context node that no condition depends on starts and stops.
    group
        ``(n,)`` each condition's satellite group, or -1.
    p_absent, p_present
        ``(A, n, W)`` P(condition absent / present | hub configuration, satellite state).
    leak, cause_start, cause, cause_p
        The findings' leaks and their causes (:func:`cause_lists`).
    context, conditions, findings
        The evidence: ``(T + 1,)`` context likelihoods, ``(n, 2)`` and ``(m, 2)``.
    posterior
        ``(n,)`` output: P(condition present | evidence).

    Returns
    -------
    status, log_evidence
    """
    A, n, W = p_absent.shape
    m = findings.shape[0]
    G = satellite_index.shape[0]
    log_const = 0.0

    # ---- findings: constants, negatives (absorbed as u), slots
    u = np.ones(n)
    slot_finding = np.empty(m, np.int64)
    w0 = np.empty(m)
    w1 = np.empty(m)
    M = 0
    for k in range(m):
        l0 = findings[k, 0]
        l1 = findings[k, 1]
        if l0 == l1:
            log_const += math.log(l0)
        elif l1 == 0.0:
            keep = 1.0 - leak[k]
            if keep == 0.0:
                return IMPOSSIBLE, -np.inf
            log_const += math.log(l0) + math.log(keep)
            for e in range(cause_start[k], cause_start[k + 1]):
                u[cause[e]] *= 1.0 - cause_p[e]
        else:
            a0 = l1 * leak[k] + l0 * (1.0 - leak[k])
            top = max(a0, l1)
            log_const += math.log(top)
            if cause_start[k] == cause_start[k + 1]:  # nothing in the network can activate it
                if a0 == 0.0:
                    return IMPOSSIBLE, -np.inf
                log_const += math.log(a0 / top)
                continue
            slot_finding[M] = k
            w0[M] = a0 / top
            w1[M] = l1 / top
            M += 1
    for j in range(n):
        if 0.0 < u[j] < TINY:
            return DECLINED, 0.0

    # ---- the conditions' evidence, scaled to at most 1
    mu0 = np.empty(n)
    mu1 = np.empty(n)
    for j in range(n):
        top = max(conditions[j, 0], conditions[j, 1])
        log_const += math.log(top)
        mu0[j] = conditions[j, 0] / top
        mu1[j] = conditions[j, 1] / top

    # ---- the context
    weight = np.empty(prior.shape[0])
    for t in range(prior.shape[0]):
        weight[t] = prior[t] * context[t]
    for r in range(unused_start.shape[0]):
        total = 0.0
        for t in range(unused_start[r], unused_stop[r]):
            total += weight[t]
        if total == 0.0:
            return IMPOSSIBLE, -np.inf
        log_const += math.log(total)

    # ---- the sweep's program: which conditions, in which order, with which slots open
    edge_count = np.zeros(n, np.int64)
    for q in range(M):
        k = slot_finding[q]
        for e in range(cause_start[k], cause_start[k + 1]):
            edge_count[cause[e]] += 1
    edge_start = np.zeros(n + 1, np.int64)
    for j in range(n):
        edge_start[j + 1] = edge_start[j] + edge_count[j]
    n_edges = edge_start[n]
    edge_slot = np.empty(n_edges, np.int64)
    edge_p = np.empty(n_edges)
    fill = edge_start[:n].copy()
    for q in range(M):
        k = slot_finding[q]
        for e in range(cause_start[k], cause_start[k + 1]):
            j = cause[e]
            edge_slot[fill[j]] = q
            edge_p[fill[j]] = cause_p[e]
            fill[j] += 1
    swept = edge_count > 0

    # blocks: each swept plain condition, then each group with a swept member
    block_group = np.empty(n, np.int64)
    block_first = np.empty(n, np.int64)
    block_members = np.empty(n, np.int64)
    B = 0
    member_count = 0
    for j in range(n):
        if swept[j] and group[j] < 0:
            block_group[B] = -1
            block_first[B] = member_count
            block_members[member_count] = j
            member_count += 1
            B += 1
    for g in range(G):
        first = member_count
        for j in range(n):
            if swept[j] and group[j] == g:
                block_members[member_count] = j
                member_count += 1
        if member_count > first:
            block_group[B] = g
            block_first[B] = first
            B += 1
    block_stop = np.empty(B, np.int64)
    for b in range(B):
        block_stop[b] = block_first[b + 1] if b + 1 < B else member_count

    # the order of the blocks: greedy on the number of slots open, when there are many slots
    order = np.arange(B)
    remaining = np.zeros(M, np.int64)
    for e in range(n_edges):
        remaining[edge_slot[e]] += 1
    if M > GREEDY_SLOTS and B > 1:
        count = np.zeros((B, M), np.int64)
        for b in range(B):
            for i in range(block_first[b], block_stop[b]):
                j = block_members[i]
                for e in range(edge_start[j], edge_start[j + 1]):
                    count[b, edge_slot[e]] += 1
        left = np.ones(B, np.bool_)
        is_open = np.zeros(M, np.bool_)
        rest = remaining.copy()
        for position in range(B):
            best = -1
            best_key = 0
            for b in range(B):
                if not left[b]:
                    continue
                opened = 0
                after = 0
                for q in range(M):
                    if is_open[q] or count[b, q] > 0:
                        opened += 1
                        if rest[q] - count[b, q] != 0:
                            after += 1
                key = opened * (M + 1) + after
                if best < 0 or key < best_key:
                    best = b
                    best_key = key
            order[position] = best
            left[best] = False
            for q in range(M):
                rest[q] -= count[best, q]
                is_open[q] = (is_open[q] or count[best, q] > 0) and rest[q] != 0

    # steps: (kind, index, extra); registers for the open slots; edges as (bit, p) per condition
    n_steps_max = 2 * G + member_count + M
    step_kind = np.empty(n_steps_max, np.int64)
    step_index = np.empty(n_steps_max, np.int64)
    step_bit = np.zeros(n_steps_max, np.int64)
    edge_bit = np.empty(n_edges, np.int64)
    register_of = np.full(M, -1, np.int64)
    register_used = np.zeros(64, np.bool_)
    rest = remaining.copy()
    n_open = 0
    peak = 0
    n_steps = 0
    for position in range(B):
        b = order[position]
        g = block_group[b]
        if g >= 0:
            step_kind[n_steps] = _ENTER
            step_index[n_steps] = g
            n_steps += 1
        for i in range(block_first[b], block_stop[b]):
            j = block_members[i]
            opened = 0
            for e in range(edge_start[j], edge_start[j + 1]):
                q = edge_slot[e]
                if register_of[q] < 0:
                    r = 0
                    while register_used[r]:
                        r += 1
                    register_used[r] = True
                    register_of[q] = r
                    n_open += 1
                    if n_open > peak:
                        peak = n_open
                        if peak > MAX_OPEN:
                            return DECLINED, 0.0
                    opened |= 1 << r
                edge_bit[e] = 1 << register_of[q]
            step_kind[n_steps] = _COND
            step_index[n_steps] = j
            step_bit[n_steps] = opened  # the slots this condition opens
            n_steps += 1
            for e in range(edge_start[j], edge_start[j + 1]):
                q = edge_slot[e]
                rest[q] -= 1
                if rest[q] == 0:
                    step_kind[n_steps] = _CLOSE
                    step_index[n_steps] = q
                    step_bit[n_steps] = 1 << register_of[q]
                    n_steps += 1
                    register_used[register_of[q]] = False
                    n_open -= 1
        if g >= 0:
            step_kind[n_steps] = _EXIT
            step_index[n_steps] = g
            n_steps += 1
    size = 1 << peak

    # ---- per hub configuration
    log_total = np.full(A, -np.inf)
    by_hub = np.zeros((A, n))
    q0 = np.empty((n, W))
    q1 = np.empty((n, W))
    norm = np.empty((n, W))
    mix = np.zeros((G, W))
    satellite = np.zeros((G, W))
    alpha = np.zeros((W, size))
    beta = np.zeros((W, size))
    work = np.empty(size)
    stored = np.empty((member_count, W, size))
    stored_at = np.full(n, -1, np.int64)
    exits = np.empty((G, W, size))
    for a in range(A):
        log_w = 0.0
        possible = True
        for h in range(hub_index.shape[1]):
            x = weight[hub_index[a, h]]
            if x == 0.0:
                possible = False
                break
            log_w += math.log(x)
        if not possible:
            continue
        # the conditions' weights; plain ones multiply into the total, grouped ones into the mix
        product = 1.0
        log_f = 0.0
        for j in range(n):
            g = group[j]
            states = satellite_size[g] if g >= 0 else 1
            for s in range(states):
                h0 = p_absent[a, j, s] * mu0[j]
                h1 = p_present[a, j, s] * u[j] * mu1[j]
                f = h0 + h1
                norm[j, s] = f
                if f < TINY:
                    exact_zero = (p_absent[a, j, s] == 0.0 or mu0[j] == 0.0) and (
                        p_present[a, j, s] == 0.0 or u[j] == 0.0 or mu1[j] == 0.0)
                    if not exact_zero:
                        return DECLINED, 0.0
                    q0[j, s] = 0.0
                    q1[j, s] = 0.0
                    continue
                q0[j, s] = h0 / f
                q1[j, s] = h1 / f
            if g < 0:
                product *= norm[j, 0]
                if product < TINY:
                    if product == 0.0:
                        possible = False
                        break
                    log_f += math.log(product)
                    product = 1.0
        if not possible:
            continue
        log_f += math.log(product)
        for g in range(G):
            for s in range(satellite_size[g]):
                mix[g, s] = weight[satellite_index[g, s]]
        for j in range(n):
            g = group[j]
            if g >= 0:
                for s in range(satellite_size[g]):
                    mix[g, s] *= norm[j, s]
                    if 0.0 < mix[g, s] < TINY:
                        return DECLINED, 0.0
        for g in range(G):
            total = 0.0
            for s in range(satellite_size[g]):
                total += mix[g, s]
            if total == 0.0:
                possible = False
                break
            if total < TINY:
                return DECLINED, 0.0
            log_f += math.log(total)
            for s in range(satellite_size[g]):
                mix[g, s] /= total
        if not possible:
            continue

        # forward
        alpha[:, :] = 0.0
        alpha[0, 0] = 1.0
        rows = 1
        log_scale = 0.0
        c = 0
        for t in range(n_steps):
            kind = step_kind[t]
            if kind == _ENTER:
                g = step_index[t]
                rows = satellite_size[g]
                for s in range(rows - 1, -1, -1):
                    for x in range(size):
                        alpha[s, x] = alpha[0, x] * mix[g, s]
            elif kind == _COND:
                j = step_index[t]
                stored_at[j] = c
                for s in range(rows):
                    for x in range(size):
                        stored[c, s, x] = alpha[s, x]
                        work[x] = alpha[s, x]
                    _activate(work, edge_bit, edge_p, edge_start[j], edge_start[j + 1])
                    a0 = q0[j, s]
                    a1 = q1[j, s]
                    for x in range(size):
                        alpha[s, x] = a0 * alpha[s, x] + a1 * work[x]
                c += 1
            elif kind == _CLOSE:
                bit = step_bit[t]
                z0 = w0[step_index[t]]
                z1 = w1[step_index[t]]
                for s in range(rows):
                    for x in range(size):
                        if x & bit == 0:
                            alpha[s, x] = z0 * alpha[s, x] + z1 * alpha[s, x | bit]
                            alpha[s, x | bit] = 0.0
                log_scale, safe = _rescale(alpha, rows, log_scale)
                if not safe:
                    return DECLINED, 0.0
            else:  # exit
                g = step_index[t]
                for s in range(rows):
                    for x in range(size):
                        exits[g, s, x] = alpha[s, x]
                for x in range(size):
                    total = 0.0
                    for s in range(rows):
                        total += alpha[s, x]
                    alpha[0, x] = total
                for s in range(1, rows):
                    for x in range(size):
                        alpha[s, x] = 0.0
                rows = 1
        log_total[a] = log_w + log_f + log_scale + math.log(alpha[0, 0])

        # backward: posteriors as ratios of inner products taken at the same step
        beta[:, :] = 0.0
        beta[0, 0] = 1.0
        rows = 1
        log_scale = 0.0
        for g in range(G):
            for s in range(satellite_size[g]):
                satellite[g, s] = mix[g, s]
        for t in range(n_steps - 1, -1, -1):
            kind = step_kind[t]
            if kind == _EXIT:
                g = step_index[t]
                rows = satellite_size[g]
                total = 0.0
                for s in range(rows):
                    inner = 0.0
                    for x in range(size):
                        inner += beta[0, x] * exits[g, s, x]
                    satellite[g, s] = inner
                    total += inner
                if total < FLOOR_INNER:
                    return DECLINED, 0.0
                for s in range(rows):
                    satellite[g, s] /= total
                for s in range(1, rows):
                    for x in range(size):
                        beta[s, x] = beta[0, x]
            elif kind == _CLOSE:
                bit = step_bit[t]
                z0 = w0[step_index[t]]
                z1 = w1[step_index[t]]
                for s in range(rows):
                    for x in range(size):
                        if x & bit == 0:
                            v = beta[s, x]
                            beta[s, x] = z0 * v
                            beta[s, x | bit] = z1 * v
                log_scale, safe = _rescale(beta, rows, log_scale)
            elif kind == _COND:
                j = step_index[t]
                c = stored_at[j]
                numerator = 0.0
                denominator = 0.0
                for s in range(rows):
                    for x in range(size):
                        work[x] = stored[c, s, x]
                    _activate(work, edge_bit, edge_p, edge_start[j], edge_start[j + 1])
                    fired = 0.0
                    still = 0.0
                    for x in range(size):
                        fired += beta[s, x] * work[x]
                        still += beta[s, x] * stored[c, s, x]
                    numerator += q1[j, s] * fired
                    denominator += q0[j, s] * still + q1[j, s] * fired
                if denominator < FLOOR_INNER:
                    return DECLINED, 0.0
                by_hub[a, j] = numerator / denominator
                for s in range(rows):
                    for x in range(size):
                        work[x] = beta[s, x]
                    _activate_adjoint(work, edge_bit, edge_p, edge_start[j], edge_start[j + 1])
                    a0 = q0[j, s]
                    a1 = q1[j, s]
                    for x in range(size):
                        beta[s, x] = a0 * beta[s, x] + a1 * work[x]
                # before this step the slots it opens are not activated: clear those entries, so
                # that the rescaling sees only entries that can still meet the forward vector
                opened = step_bit[t]
                if opened:
                    for s in range(rows):
                        for x in range(size):
                            if x & opened:
                                beta[s, x] = 0.0
                log_scale, safe = _rescale(beta, rows, log_scale)
                if not safe:
                    return DECLINED, 0.0
            else:  # enter
                g = step_index[t]
                for x in range(size):
                    total = 0.0
                    for s in range(rows):
                        total += mix[g, s] * beta[s, x]
                    beta[0, x] = total
                for s in range(1, rows):
                    for x in range(size):
                        beta[s, x] = 0.0
                rows = 1
        # the conditions not swept: closed forms given the hub (and the satellite's posterior)
        for j in range(n):
            if swept[j]:
                continue
            g = group[j]
            if g < 0:
                by_hub[a, j] = q1[j, 0]
            else:
                total = 0.0
                for s in range(satellite_size[g]):
                    total += satellite[g, s] * q1[j, s]
                by_hub[a, j] = total

    # ---- combine the hub configurations
    top = -np.inf
    for a in range(A):
        if log_total[a] > top:
            top = log_total[a]
    if top == -np.inf:
        return IMPOSSIBLE, -np.inf
    share = np.zeros(A)
    total = 0.0
    for a in range(A):
        if log_total[a] > -np.inf:
            share[a] = math.exp(log_total[a] - top)
            total += share[a]
    for j in range(n):
        value = 0.0
        for a in range(A):
            if share[a] > 0.0:
                value += share[a] * by_hub[a, j]
        value /= total
        if conditions[j, 0] == 0.0:
            value = 1.0
        elif conditions[j, 1] == 0.0:
            value = 0.0
        posterior[j] = min(max(value, 0.0), 1.0)
    return ANSWERED, log_const + top + math.log(total)


@njit(nogil=True)
def query_rows(prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
               p_absent, p_present, leak, cause_start, cause, cause_p,
               context, conditions, findings, status, log_evidence, posterior):
    """:func:`query_one` for each row of ``context`` ``(N, T + 1)``, ``conditions`` ``(N, n, 2)`` and
    ``findings`` ``(N, m, 2)``, into ``status`` ``(N,)``, ``log_evidence`` ``(N,)`` and ``posterior``
    ``(N, n)``. Each row is computed exactly as alone."""
    for i in range(context.shape[0]):
        status[i], log_evidence[i] = query_one(
            prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
            p_absent, p_present, leak, cause_start, cause, cause_p,
            context[i], conditions[i], findings[i], posterior[i])


@njit(nogil=True)
def query_parameter_rows(prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
                         p_absent, p_present, leak, cause_start, cause, cause_p,
                         context, conditions, findings, status, log_evidence, posterior):
    """:func:`query_one` for one evidence set under each parameter set ``b``: ``prior`` ``(B, T + 1)``,
    ``p_absent`` and ``p_present`` ``(B, A, n, W)``, ``leak`` ``(B, m)`` and ``cause_p`` ``(B, E)``
    (the causes themselves are shared), into outputs of leading length ``B``."""
    for b in range(prior.shape[0]):
        status[b], log_evidence[b] = query_one(
            prior[b], hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
            p_absent[b], p_present[b], leak[b], cause_start, cause, cause_p[b],
            context, conditions, findings, posterior[b])
