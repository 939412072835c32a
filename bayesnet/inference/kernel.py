"""The compiled kernel: one evidence set, every posterior, in a single pass of machine code.

A single query on the real network is a few thousand multiply-adds. Written as array operations it
costs a hundred or more numpy calls, and their overhead, not the arithmetic, sets the time. This
module does the same exact computation as :mod:`bayesnet.inference.engine` in machine code compiled by numba,
:func:`query_one`, whose steps are the functions named here:

1. Findings are read once (:func:`_read_findings`): a finding with ``lam0 = lam1`` is a constant; a
   negative one is a constant and a factor ``1 - p_kj`` on each cause's *present* weight; the others
   (positive or soft) are *slots*, with weights ``w0`` (no cause activated it; the leak may still
   have) and ``w1``. The conditions' evidence is scaled (:func:`_scale_conditions`) and the context
   weighed (:func:`_weigh_context`).
2. For each hub configuration ``a`` (see :mod:`bayesnet.inference.context`; its weight :func:`_hub_weight`)
   each condition has weights ``h0 = P(absent | a, s) mu0`` and ``h1 = P(present | a, s) u mu1``
   (``s`` its satellite's state, ``u`` the product of its negative findings' factors), normalised to
   ``q0 + q1 = 1`` (:func:`_condition_weights`), and each satellite a distribution given the hub
   (:func:`_satellite_mix`).
3. The conditions that can activate a slot are *swept* (:mod:`bayesnet.inference.sweep` gives the method): the
   state is a vector over which open slots some present cause has already activated, one bit per
   slot, each slot open only between its first and its last cause. A satellite group is visited as
   a block, with one state vector per satellite state (only the states of non-zero weight); a
   satellite whose context is observed is fixed (:func:`_fix_satellites`) and its members swept as
   plain conditions; a condition with hard evidence is not swept (known absent, it activates
   nothing; known present, it folds into its slots' weights); with more than ``GREEDY_SLOTS`` slots the
   blocks are ordered greedily to keep few slots open (a group's members keep their index order).
   The program is planned once (:func:`_sweep_edges`, :func:`_sweep_blocks`, :func:`_greedy_order`,
   :func:`_sweep_program`) and run for each hub configuration (:func:`_sweep`). Every number added
   is non-negative, so nothing cancels for any number of positive findings.
4. A backward pass (:func:`_backward_pass`) gives each swept condition's posterior, and each swept
   group's satellite posterior, as a ratio of two inner products taken at the same step, so the
   power-of-two rescaling that keeps the vectors away from underflow cancels exactly.
5. The conditions not swept have closed forms (:func:`_closed_forms`); the hub configurations are
   combined in log space (:func:`_combine`).

The steps are grouped in phases (:func:`_read_evidence`, :func:`_plan_sweep`,
:func:`_hub_configurations`, :func:`_combine`) between which :func:`query_one` carves the arrays
they fill out of a workspace; ``_step`` and ``_phase`` below say how they are compiled.

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
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from bayesnet.inference.coded import fill_row
from bayesnet.inference.context import ContextStructure
from bayesnet.inference.jit import njit

__all__ = ["KernelTables", "ANSWERED", "IMPOSSIBLE", "DECLINED", "MAX_OPEN", "query_one", "query_rows",
           "query_coded_rows", "query_parameter_rows", "cause_lists"]

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
    satellite_index: np.ndarray  # (G, W, K)
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
    _threads: threading.local = field(default_factory=threading.local, repr=False)

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
            satellite_index=contiguous(s.satellite_index, dtype=np.int64).reshape(
                len(s.satellites), s.width, s.satellite_index.shape[-1]),
            satellite_size=np.array(s.satellite_sizes, dtype=np.int64),
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
            ) -> tuple[int, float, float, np.ndarray]:
        """Status, log P(evidence), log P(evidence, every condition absent) and posteriors for one
        evidence set, with parameter set 0."""
        posterior = np.empty(self.n)
        status, log_evidence, log_none = _answer(self.prior[0], *self._shared(), self.p_absent[0], self.p_present[0],
                                                 self.leak[0], self.cause_start, self.cause, self.cause_p[0],
                                                 context, conditions, findings, posterior, *self._workspace(), True)
        return status, log_evidence, log_none, posterior

    def __getstate__(self) -> dict:
        """Pickled without the threads' workspaces (each process makes its own)."""
        return {k: v for k, v in self.__dict__.items() if k != "_threads"}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_threads", threading.local())

    def _workspace(self) -> tuple[np.ndarray, ...]:
        """This thread's workspace for single queries, made on first use and kept."""
        workspace = getattr(self._threads, "workspace", None)
        if workspace is None:
            workspace = _workspace(self.prior[0], self.satellite_index, self.p_absent[0], self.cause,
                                   self.leak.shape[1])
            self._threads.workspace = workspace
        return workspace

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

    def coded_rows(self, codes: np.ndarray, table, workers: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`rows` for cases given as state codes ``(C, N)`` with their
        :class:`~bayesnet.inference.coded.CodeTable`: each case's likelihoods are filled just before
        it is answered, never stored for the whole batch."""
        N = codes.shape[1]
        status = np.empty(N, np.int64)
        log_evidence = np.empty(N)
        posterior = np.empty((N, self.n))
        arguments = (self.prior[0], *self._shared(), self.p_absent[0], self.p_present[0], self.leak[0],
                     self.cause_start, self.cause, self.cause_p[0], codes, table.start, table.positions,
                     table.presenting, table.population_row)

        def chunk(r: slice) -> None:
            query_coded_rows(*arguments, r.start, r.stop, status, log_evidence, posterior)

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


#: How the steps of :func:`query_one` are compiled. A step is a small function that allocates nothing:
#: it fills arrays that ``query_one`` allocates. Steps are inlined (numba's ``inline="always"``) into
#: the phase that calls them, and phases are compiled without numba's reference counting
#: (``_nrt=False``, which is allowed where nothing is allocated), so that the machine code is that of
#: one function, as before the steps were split out. Compiled as separate calls instead, the steps
#: made cheap queries 10-40 % slower: with reference counting, every array argument of every call is
#: an atomic increment and decrement (the sweep's steps run once per hub configuration and call
#: :func:`_activate` and :func:`_rescale` at each step of the program); without it, the arguments,
#: over a hundred machine words for the sweep, are copied at each call.
_step = njit(nogil=True, _nrt=False, inline="always")
_phase = njit(nogil=True, _nrt=False)


@_step
def _rescale(state, live, rows, log_scale):
    """Multiply the rows ``live[:rows]`` of ``state`` by a power of two if their largest entry is below
    ``RESCALE_BELOW``; returns the new log scale and whether the largest entry was at least ``FLOOR``."""
    top = 0.0
    for k in range(rows):
        s = live[k]
        for x in range(state.shape[1]):
            if state[s, x] > top:
                top = state[s, x]
    if top < FLOOR:
        return log_scale, False
    if top < RESCALE_BELOW:
        exponent = math.frexp(top)[1]
        factor = math.ldexp(1.0, -exponent)
        for k in range(rows):
            s = live[k]
            for x in range(state.shape[1]):
                state[s, x] *= factor
        log_scale += exponent * _LN2
    return log_scale, True


@_step
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


@_step
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




@_step
def _unanswered(status):
    """The status, log P(evidence) and log P(evidence, nothing present) returned for a query not
    answered: -inf if impossible, else 0 and NaN."""
    if status == IMPOSSIBLE:
        return IMPOSSIBLE, -np.inf, -np.inf
    return status, 0.0, np.nan


# ---------------------------------------------------------------------------- 1. the evidence, read once
@_step
def _read_findings(findings, leak, cause_start, cause, cause_p, u, slot_finding, w0, w1):
    """Step 1: each finding as a constant (into the log constant), a negative (its factors into ``u``)
    or a slot (``slot_finding``, ``w0``, ``w1``); returns status, log constant and number of slots."""
    m = findings.shape[0]
    log_const = 0.0
    M = 0
    for k in range(m):
        l0 = findings[k, 0]
        l1 = findings[k, 1]
        if l0 == l1:
            if l0 != 1.0:                      # an unobserved finding (likelihoods 1) adds log 1 = 0
                log_const += math.log(l0)
        elif l1 == 0.0:
            keep = 1.0 - leak[k]
            if keep == 0.0:
                return IMPOSSIBLE, 0.0, 0
            log_const += math.log(l0) + math.log(keep)
            for e in range(cause_start[k], cause_start[k + 1]):
                u[cause[e]] *= 1.0 - cause_p[e]
        else:
            a0 = l1 * leak[k] + l0 * (1.0 - leak[k])
            top = max(a0, l1)
            log_const += math.log(top)
            if cause_start[k] == cause_start[k + 1]:  # nothing in the network can activate it
                if a0 == 0.0:
                    return IMPOSSIBLE, 0.0, 0
                log_const += math.log(a0 / top)
                continue
            slot_finding[M] = k
            w0[M] = a0 / top
            w1[M] = l1 / top
            M += 1
    for j in range(u.shape[0]):
        if 0.0 < u[j] < TINY:
            return DECLINED, 0.0, 0
    return ANSWERED, log_const, M


@_step
def _scale_conditions(conditions, mu0, mu1, log_const):
    """The conditions' evidence scaled to at most 1 into ``mu0``, ``mu1``; returns status (impossible
    where a condition's evidence is zero for both states) and ``log_const`` plus the logs of the
    scales."""
    for j in range(conditions.shape[0]):
        top = max(conditions[j, 0], conditions[j, 1])
        if top == 0.0:
            return IMPOSSIBLE, log_const
        if top == 1.0:
            mu0[j] = conditions[j, 0]
            mu1[j] = conditions[j, 1]
            continue
        log_const += math.log(top)
        mu0[j] = conditions[j, 0] / top
        mu1[j] = conditions[j, 1] / top
    return ANSWERED, log_const


@_step
def _weigh_context(prior, context, unused_start, unused_stop, weight, log_const):
    """Each context state's prior times its likelihood into ``weight``; the nodes no condition depends on
    are summed out into the log constant. Returns status and ``log_const``."""
    for t in range(prior.shape[0]):
        weight[t] = prior[t] * context[t]
    for r in range(unused_start.shape[0]):
        total = 0.0
        for t in range(unused_start[r], unused_stop[r]):
            total += weight[t]
        if total == 0.0:
            return IMPOSSIBLE, log_const
        log_const += math.log(total)
    return ANSWERED, log_const


@_phase
def _read_evidence(prior, context, conditions, findings, unused_start, unused_stop, leak, cause_start, cause,
                   cause_p, u, slot_finding, w0, w1, mu0, mu1, weight):
    """Step 1, the evidence read once: findings, the conditions' evidence, context; returns status, log
    constant and number of slots."""
    status, log_const, M = _read_findings(findings, leak, cause_start, cause, cause_p, u, slot_finding, w0, w1)
    if status != ANSWERED:
        return status, 0.0, 0
    status, log_const = _scale_conditions(conditions, mu0, mu1, log_const)
    if status != ANSWERED:
        return status, 0.0, 0
    status, log_const = _weigh_context(prior, context, unused_start, unused_stop, weight, log_const)
    return status, log_const, M


# ---------------------------------------------------------------------------- the sweep's program
@_step
def _sweep_edges(slot_finding, M, cause_start, cause, cause_p, mu0, mu1, w0, w1, edge_start, edge_slot, edge_p,
                 remaining, swept, fill):
    """The edges from conditions to slots, grouped by condition: ``edge_start`` ``(n + 1,)``, each
    edge's slot and link probability, each slot's number of edges (``remaining``) and ``swept``
    (the conditions with any edge). ``fill`` ``(n,)`` is scratch.

    A condition known absent (``mu1 = 0``) activates nothing and has no edge; one known present
    (``mu0 = 0``) activates each of its slots with its link probability, which folds into the slot's
    weight when no other cause activates it (``w0 -> w0 (1 - p) + w1 p``). Returns the log of the
    weights of slots left with no edge (-inf: the evidence is impossible)."""
    n = swept.shape[0]
    edge_count = fill
    for j in range(n):
        edge_count[j] = 0
    for q in range(M):
        k = slot_finding[q]
        for e in range(cause_start[k], cause_start[k + 1]):
            j = cause[e]
            if mu1[j] == 0.0:
                continue
            if mu0[j] == 0.0:
                p = cause_p[e]
                w0[q] = w0[q] * (1.0 - p) + w1[q] * p
                continue
            edge_count[j] += 1
    edge_start[0] = 0
    for j in range(n):
        edge_start[j + 1] = edge_start[j] + edge_count[j]
        swept[j] = edge_count[j] > 0
    n_edges = edge_start[n]
    for j in range(n):
        fill[j] = edge_start[j]
    for q in range(M):
        k = slot_finding[q]
        for e in range(cause_start[k], cause_start[k + 1]):
            j = cause[e]
            if mu0[j] == 0.0 or mu1[j] == 0.0:
                continue
            edge_slot[fill[j]] = q
            edge_p[fill[j]] = cause_p[e]
            fill[j] += 1
    for q in range(M):
        remaining[q] = 0
    for e in range(n_edges):
        remaining[edge_slot[e]] += 1
    log_fixed = 0.0
    for q in range(M):
        if remaining[q] == 0:
            if w0[q] == 0.0:
                return -np.inf
            log_fixed += math.log(w0[q])
    return log_fixed


@_step
def _sweep_blocks(swept, group, G, block_group, block_first, block_stop, block_members):
    """The blocks swept: each swept condition outside the groups alone, then each group with a swept
    member, as each block's group (-1: none) and its range in ``block_members``; returns the number of
    blocks and of members."""
    n = group.shape[0]
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
    for b in range(B):
        block_stop[b] = block_first[b + 1] if b + 1 < B else member_count
    return B, member_count


@_step
def _greedy_order(B, M, block_first, block_stop, block_members, edge_start, edge_slot, remaining, order, count,
                  left, is_open, rest):
    """The blocks in greedy order: next the block with the fewest slots open while it is swept, then
    the fewest left open after it, into ``order``. ``count`` ``(B, M)`` or larger, ``left``, ``is_open``
    and ``rest`` are scratch."""
    for b in range(B):
        for q in range(M):
            count[b, q] = 0
    for b in range(B):
        for i in range(block_first[b], block_stop[b]):
            j = block_members[i]
            for e in range(edge_start[j], edge_start[j + 1]):
                count[b, edge_slot[e]] += 1
    for b in range(B):
        left[b] = True
    for q in range(M):
        is_open[q] = False
        rest[q] = remaining[q]
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


@_step
def _sweep_program(B, M, order, block_group, block_first, block_stop, block_members, edge_start, edge_slot,
                   remaining, step_kind, step_index, step_bit, edge_bit, register_of, register_used, rest):
    """The sweep's steps (kind, index, bit: enter a group; a condition, with the slots it opens; close a
    slot; exit a group) and each edge's register bit, with a register for each open slot; returns the
    number of steps and the most slots open at once (past ``MAX_OPEN`` it stops: the query is declined)."""
    for t in range(step_bit.shape[0]):
        step_bit[t] = 0
    for q in range(M):
        register_of[q] = -1
        rest[q] = remaining[q]
    for r in range(register_used.shape[0]):
        register_used[r] = False
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
                            return n_steps, peak
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
    return n_steps, peak


@_phase
def _plan_sweep(slot_finding, M, cause_start, cause, cause_p, mu0, mu1, w0, w1, group, G, edge_start, edge_slot,
                edge_p, remaining, swept, scratch, block_group, block_first, block_stop, block_members, order, count,
                left, is_open, step_kind, step_index, step_bit, edge_bit, register_of, register_used):
    """The sweep's program, planned once for every hub configuration: edges, blocks, their order (greedy
    with more than ``GREEDY_SLOTS`` slots), steps; returns the number of steps, the most slots open at
    once, the number of swept conditions and the log weight of the slots that no condition is left to
    activate (conditions with hard evidence fold into their slots; see :func:`_sweep_edges`)."""
    log_fixed = _sweep_edges(slot_finding, M, cause_start, cause, cause_p, mu0, mu1, w0, w1, edge_start, edge_slot,
                             edge_p, remaining, swept, scratch)
    B, member_count = _sweep_blocks(swept, group, G, block_group, block_first, block_stop, block_members)
    if M > GREEDY_SLOTS and B > 1:
        _greedy_order(B, M, block_first, block_stop, block_members, edge_start, edge_slot, remaining, order, count,
                      left, is_open, scratch)
    n_steps, peak = _sweep_program(B, M, order, block_group, block_first, block_stop, block_members, edge_start,
                                   edge_slot, remaining, step_kind, step_index, step_bit, edge_bit, register_of,
                                   register_used, scratch)
    return n_steps, peak, member_count, log_fixed


# ---------------------------------------------------------------------------- 2. one hub configuration's weights
@_step
def _hub_weight(weight, hub_index, a):
    """log of hub configuration ``a``'s weight: its states' priors times their likelihoods (-inf if zero)."""
    log_w = 0.0
    for h in range(hub_index.shape[1]):
        x = weight[hub_index[a, h]]
        if x == 0.0:
            return -np.inf
        log_w += math.log(x)
    return log_w


@_step
def _condition_weights(p_absent, p_present, a, u, mu0, mu1, group, state_of, satellite_size, q0, q1, norm):
    """Step 2: each condition's weights ``h0``, ``h1`` given the hub (and satellite state; a plain
    condition at ``state_of``), their sum into ``norm`` and their shares into ``q0``, ``q1``; returns
    status and the log of the plain conditions' sums (-inf: this hub configuration is impossible)."""
    product = 1.0
    log_f = 0.0
    for j in range(u.shape[0]):
        g = group[j]
        states = satellite_size[g] if g >= 0 else 1
        for s in range(states):
            t = s if g >= 0 else state_of[j]
            h0 = p_absent[a, j, t] * mu0[j]
            h1 = p_present[a, j, t] * u[j] * mu1[j]
            f = h0 + h1
            norm[j, s] = f
            if f < TINY:
                exact_zero = (p_absent[a, j, t] == 0.0 or mu0[j] == 0.0) and (
                    p_present[a, j, t] == 0.0 or u[j] == 0.0 or mu1[j] == 0.0)
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
                    return ANSWERED, -np.inf
                log_f += math.log(product)
                product = 1.0
    log_f += math.log(product)
    return ANSWERED, log_f


@_step
def _fix_satellites(weight, satellite_index, satellite_size, group, fixed, group_of, state_of):
    """Each condition's satellite group for this evidence into ``group_of``, and the state a plain
    condition is read at into ``state_of``. A satellite with one state of non-zero weight (its
    context observed) is fixed at that state (``fixed`` ``(G,)``, -1 where not): its members are
    plain conditions at that state, and the satellite, left with no member, still weighs in through
    :func:`_satellite_mix`. So a known context sweeps no satellite block."""
    for g in range(satellite_index.shape[0]):
        live = -1
        for s in range(satellite_size[g]):
            if _joint_weight(weight, satellite_index, g, s) > 0.0:
                if live >= 0:
                    live = -1
                    break
                live = s
        fixed[g] = live
    for j in range(group.shape[0]):
        g = group[j]
        group_of[j] = g
        state_of[j] = 0
        if g >= 0 and fixed[g] >= 0:
            group_of[j] = -1
            state_of[j] = fixed[g]


@_step
def _joint_weight(weight, satellite_index, g, s):
    """The weight of joint state ``s`` of satellite ``g``: its nodes' states' weights multiplied."""
    product = weight[satellite_index[g, s, 0]]
    for k in range(1, satellite_index.shape[2]):
        if satellite_index[g, s, k] < 0:
            break
        product *= weight[satellite_index[g, s, k]]
    return product


@_step
def _satellite_mix(weight, satellite_index, satellite_size, group, norm, mix, log_f):
    """Each satellite state's weight given the hub: prior times likelihood times its members' ``norm``,
    normalised into ``mix``; returns status and ``log_f`` plus the logs of the totals (-inf: impossible)."""
    G = satellite_index.shape[0]
    for g in range(G):
        for s in range(satellite_size[g]):
            mix[g, s] = _joint_weight(weight, satellite_index, g, s)
    for j in range(group.shape[0]):
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
            return ANSWERED, -np.inf
        if total < TINY:
            return DECLINED, 0.0
        log_f += math.log(total)
        for s in range(satellite_size[g]):
            mix[g, s] /= total
    return ANSWERED, log_f


# ---------------------------------------------------------------------------- 3. the sweep, 4. the backward pass
@_step
def _live_states(mix, g, size, live):
    """The states of satellite ``g`` with a non-zero weight into ``live``; returns their number. A state
    of weight zero keeps zero vectors through its group, so it is not visited (with the context
    observed, only one state of each satellite is live)."""
    rows = 0
    for s in range(size):
        if mix[g, s] > 0.0:
            live[rows] = s
            rows += 1
    return rows


@_step
def _sweep(step_kind, step_index, step_bit, n_steps, satellite_size, mix, q0, q1, w0, w1, edge_bit, edge_p,
           edge_start, alpha, work, stored, stored_at, exits, live):
    """Step 3: the forward state vectors ``alpha`` through the steps, keeping each swept condition's
    input in ``stored`` and each group's vectors at its exit in ``exits``; returns whether every
    rescaling stayed above ``FLOOR``, and the log scale (the sum is ``alpha[0, 0]`` times its exp).
    Inside a group only its live satellite states (``live``, scratch) are visited."""
    size = alpha.shape[1]
    alpha[:, :] = 0.0
    alpha[0, 0] = 1.0
    rows = 1
    live[0] = 0
    log_scale = 0.0
    c = 0
    for t in range(n_steps):
        kind = step_kind[t]
        if kind == _ENTER:
            g = step_index[t]
            rows = _live_states(mix, g, satellite_size[g], live)
            for k in range(rows - 1, -1, -1):
                s = live[k]
                for x in range(size):
                    alpha[s, x] = alpha[0, x] * mix[g, s]
            if live[0] != 0:
                for x in range(size):
                    alpha[0, x] = 0.0
        elif kind == _COND:
            j = step_index[t]
            stored_at[j] = c
            for k in range(rows):
                s = live[k]
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
            for k in range(rows):
                s = live[k]
                for x in range(size):
                    if x & bit == 0:
                        alpha[s, x] = z0 * alpha[s, x] + z1 * alpha[s, x | bit]
                        alpha[s, x | bit] = 0.0
            log_scale, safe = _rescale(alpha, live, rows, log_scale)
            if not safe:
                return False, 0.0
        else:  # exit
            g = step_index[t]
            for k in range(rows):
                s = live[k]
                for x in range(size):
                    exits[g, s, x] = alpha[s, x]
            for x in range(size):
                total = 0.0
                for k in range(rows):
                    total += alpha[live[k], x]
                alpha[0, x] = total
            for k in range(rows):
                s = live[k]
                if s != 0:
                    for x in range(size):
                        alpha[s, x] = 0.0
            rows = 1
            live[0] = 0
    return True, log_scale


@_step
def _backward_pass(step_kind, step_index, step_bit, n_steps, satellite_size, mix, q0, q1, w0, w1, edge_bit,
                   edge_p, edge_start, beta, work, stored, stored_at, exits, satellite, by_hub, a, live):
    """Step 4: back through the steps, each swept condition's posterior given the hub into ``by_hub[a]``
    and each swept group's satellite posterior into ``satellite`` (other groups: ``mix``), as ratios
    of inner products taken at the same step; returns False where one is below ``FLOOR_INNER``.
    Inside a group only its live satellite states are visited, as in :func:`_sweep`."""
    size = beta.shape[1]
    beta[:, :] = 0.0
    beta[0, 0] = 1.0
    rows = 1
    live[0] = 0
    log_scale = 0.0
    for g in range(satellite.shape[0]):
        for s in range(satellite_size[g]):
            satellite[g, s] = mix[g, s]
    for t in range(n_steps - 1, -1, -1):
        kind = step_kind[t]
        if kind == _EXIT:
            g = step_index[t]
            rows = _live_states(mix, g, satellite_size[g], live)
            total = 0.0
            for s in range(satellite_size[g]):
                satellite[g, s] = 0.0
            for k in range(rows):
                s = live[k]
                inner = 0.0
                for x in range(size):
                    inner += beta[0, x] * exits[g, s, x]
                satellite[g, s] = inner
                total += inner
            if total < FLOOR_INNER:
                return False
            for k in range(rows):
                satellite[g, live[k]] /= total
            for k in range(rows):
                s = live[k]
                if s != 0:
                    for x in range(size):
                        beta[s, x] = beta[0, x]
        elif kind == _CLOSE:
            bit = step_bit[t]
            z0 = w0[step_index[t]]
            z1 = w1[step_index[t]]
            for k in range(rows):
                s = live[k]
                for x in range(size):
                    if x & bit == 0:
                        v = beta[s, x]
                        beta[s, x] = z0 * v
                        beta[s, x | bit] = z1 * v
            log_scale, safe = _rescale(beta, live, rows, log_scale)
        elif kind == _COND:
            j = step_index[t]
            c = stored_at[j]
            numerator = 0.0
            denominator = 0.0
            for k in range(rows):
                s = live[k]
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
                return False
            by_hub[a, j] = numerator / denominator
            for k in range(rows):
                s = live[k]
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
                for k in range(rows):
                    s = live[k]
                    for x in range(size):
                        if x & opened:
                            beta[s, x] = 0.0
            log_scale, safe = _rescale(beta, live, rows, log_scale)
            if not safe:
                return False
        else:  # enter
            g = step_index[t]
            for x in range(size):
                total = 0.0
                for k in range(rows):
                    total += mix[g, live[k]] * beta[live[k], x]
                beta[0, x] = total
            for k in range(rows):
                s = live[k]
                if s != 0:
                    for x in range(size):
                        beta[s, x] = 0.0
            rows = 1
            live[0] = 0
    return True


# ---------------------------------------------------------------------------- 5. closed forms, combined
@_step
def _closed_forms(swept, group, satellite_size, satellite, q1, by_hub, a):
    """Step 5: each condition not swept, given the hub, into ``by_hub[a]``: ``q1``, averaged over the
    satellite's posterior for a group member."""
    for j in range(group.shape[0]):
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


@_phase
def _hub_configurations(weight, hub_index, satellite_index, satellite_size, group, state_of, p_absent, p_present, u,
                        mu0, mu1, w0, w1, swept, step_kind, step_index, step_bit, n_steps, edge_bit, edge_p, edge_start,
                        log_total, by_hub, q0, q1, norm, mix, satellite, alpha, beta, work, stored, stored_at, exits,
                        live):
    """Steps 2 to 5 for each hub configuration ``a``: its weight, the conditions' and satellites'
    weights, the sweep, the backward pass and the closed forms, into ``log_total[a]`` and ``by_hub[a]``;
    returns the status (answered, or declined)."""
    for a in range(hub_index.shape[0]):
        log_w = _hub_weight(weight, hub_index, a)
        if log_w == -np.inf:
            continue
        status, log_f = _condition_weights(p_absent, p_present, a, u, mu0, mu1, group, state_of, satellite_size, q0, q1,
                                           norm)
        if status != ANSWERED:
            return status
        if log_f == -np.inf:
            continue
        status, log_f = _satellite_mix(weight, satellite_index, satellite_size, group, norm, mix, log_f)
        if status != ANSWERED:
            return status
        if log_f == -np.inf:
            continue
        safe, log_scale = _sweep(step_kind, step_index, step_bit, n_steps, satellite_size, mix, q0, q1, w0, w1,
                                 edge_bit, edge_p, edge_start, alpha, work, stored, stored_at, exits, live)
        if not safe:
            return DECLINED
        log_total[a] = log_w + log_f + log_scale + math.log(alpha[0, 0])
        if not _backward_pass(step_kind, step_index, step_bit, n_steps, satellite_size, mix, q0, q1, w0, w1,
                              edge_bit, edge_p, edge_start, beta, work, stored, stored_at, exits, satellite,
                              by_hub, a, live):
            return DECLINED
        _closed_forms(swept, group, satellite_size, satellite, q1, by_hub, a)
    return ANSWERED


@_phase
def _nothing_present(weight, hub_index, satellite_index, satellite_size, group, state_of, p_absent, mu0, w0, M,
                     log_const, by_hub_none, none_mix):
    """log P(evidence, every condition absent): for each hub configuration its weight times every
    condition's weight absent (a satellite's states summed), combined in log space, times the slots'
    weights with no cause active (``by_hub_none`` ``(A,)`` and ``none_mix`` ``(G, W)`` are scratch);
    -inf if that is impossible."""
    log_slots = log_const
    for k in range(M):
        if w0[k] == 0.0:
            return -np.inf
        log_slots += math.log(w0[k])
    top = -np.inf
    for a in range(hub_index.shape[0]):
        log_w = _hub_weight(weight, hub_index, a)
        by_hub_none[a] = log_w
        if log_w == -np.inf:
            continue
        product = 1.0
        for j in range(group.shape[0]):
            if group[j] < 0:
                product *= p_absent[a, j, state_of[j]] * mu0[j]
                if product < TINY:
                    if product == 0.0:
                        break
                    log_w += math.log(product)
                    product = 1.0
        if product == 0.0:
            by_hub_none[a] = -np.inf
            continue
        log_w += math.log(product)
        for g in range(satellite_index.shape[0]):
            for s in range(satellite_size[g]):
                none_mix[g, s] = _joint_weight(weight, satellite_index, g, s)
        for j in range(group.shape[0]):
            g = group[j]
            if g >= 0:
                for s in range(satellite_size[g]):
                    none_mix[g, s] *= p_absent[a, j, s] * mu0[j]
        for g in range(satellite_index.shape[0]):
            total = 0.0
            for s in range(satellite_size[g]):
                total += none_mix[g, s]
            if total == 0.0:
                log_w = -np.inf
                break
            log_w += math.log(total)
        by_hub_none[a] = log_w
        if log_w > top:
            top = log_w
    if top == -np.inf:
        return -np.inf
    total = 0.0
    for a in range(hub_index.shape[0]):
        if by_hub_none[a] > -np.inf:
            total += math.exp(by_hub_none[a] - top)
    return log_slots + top + math.log(total)


@_phase
def _combine(log_total, by_hub, conditions, log_const, share, posterior):
    """Step 5: the hub configurations' posteriors averaged with weights ``exp(log_total)`` (in log
    space) into ``posterior``, hard evidence on a condition kept exact (``share`` ``(A,)`` is scratch);
    returns status and log P(evidence)."""
    A = log_total.shape[0]
    top = -np.inf
    for a in range(A):
        if log_total[a] > top:
            top = log_total[a]
    if top == -np.inf:
        return IMPOSSIBLE, -np.inf
    total = 0.0
    for a in range(A):
        share[a] = 0.0
        if log_total[a] > -np.inf:
            share[a] = math.exp(log_total[a] - top)
            total += share[a]
    for j in range(posterior.shape[0]):
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


# ---------------------------------------------------------------------------- the workspace
#: The arrays a query fills are carved out of three flat buffers (integers, floats, flags) sized for
#: the network, and a fourth for the state vectors, sized for the most slots open at once. A batch
#: allocates them once per chunk of rows and :class:`KernelTables` once per thread for single
#: queries, so that a cheap query is not dominated by some thirty small allocations.
@njit(nogil=True)
def _buffers(n, m, E, G, W, A, T):
    """The flat integer, float and flag buffers for a network of ``n`` conditions, ``m`` finding rows,
    ``E`` edges, ``G`` satellite groups of at most ``W`` states, ``A`` hub configurations and ``T``
    context states (with the padding entry)."""
    steps = 2 * G + n + m
    ints = np.empty(m + G + 2 * n + (n + 1) + 2 * E + m + max(n, m) + 5 * n + n * m + 3 * steps + m + n + W, np.int64)
    floats = np.empty(2 * n + 2 * m + 2 * n + T + E + 3 * A + A * n + 3 * n * W + 3 * G * W)
    flags = np.empty(2 * n + m + 64, np.bool_)
    return ints, floats, flags


@njit(nogil=True)
def _vectors_size(W, G, size, member_count):
    """Floats needed by the state vectors: ``alpha``, ``beta``, ``work``, ``stored``, ``exits``."""
    return size * (2 * W + 1 + member_count * W + G * W)


@njit(nogil=True, inline="always")
def _take(buffer, at, count):
    """``buffer[at:at + count]`` and the next free position."""
    return buffer[at:at + count], at + count


# ---------------------------------------------------------------------------- one evidence set
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
        ``(A, H)`` and ``(G, W, K)`` positions in the context vector (padding: ``T``; a satellite's
        joint state is the product of its nodes' states, -1 where it has fewer than ``K`` nodes),
        ``(G,)`` joint states.
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
    status, log_evidence, log_none
        ``log_none`` is log P(evidence, every condition absent).
    """
    ints, floats, flags, vectors = _workspace(prior, satellite_index, p_absent, cause, findings.shape[0])
    return _answer(prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
                   p_absent, p_present, leak, cause_start, cause, cause_p, context, conditions, findings, posterior,
                   ints, floats, flags, vectors, True)


@njit(nogil=True, _nrt=False)
def _answer(prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
            p_absent, p_present, leak, cause_start, cause, cause_p,
            context, conditions, findings, posterior, ints, floats, flags, vectors, none):
    """:func:`query_one` in a workspace from :func:`_workspace` (``ints``, ``floats`` and ``flags``
    from :func:`_buffers`, ``vectors`` for the state vectors of ``MAX_OPEN`` slots). It allocates
    nothing, so it is compiled without reference counting, like the phases: the thirty-odd arrays
    carved out of the workspace are views that cost no atomic counts. With ``none`` false,
    ``log_none`` is not computed (NaN)."""
    A, n, W = p_absent.shape
    m = findings.shape[0]
    G = satellite_index.shape[0]
    E = cause.shape[0]
    i = 0  # next free integer, float and flag
    f = 0
    b = 0

    # 1. the evidence: findings (constants, negatives as u, slots), conditions, context
    u, f = _take(floats, f, n)
    u[:] = 1.0
    slot_finding, i = _take(ints, i, m)
    w0, f = _take(floats, f, m)
    w1, f = _take(floats, f, m)
    mu0, f = _take(floats, f, n)
    mu1, f = _take(floats, f, n)
    weight, f = _take(floats, f, prior.shape[0])
    status, log_const, M = _read_evidence(prior, context, conditions, findings, unused_start, unused_stop, leak,
                                          cause_start, cause, cause_p, u, slot_finding, w0, w1, mu0, mu1, weight)
    if status != ANSWERED:
        return _unanswered(status)
    fixed, i = _take(ints, i, G)
    group_of, i = _take(ints, i, n)
    state_of, i = _take(ints, i, n)
    _fix_satellites(weight, satellite_index, satellite_size, group, fixed, group_of, state_of)
    group = group_of
    log_none = np.nan
    if none:
        by_hub_none, f = _take(floats, f, A)
        none_mix, f = _take(floats, f, G * W)
        log_none = _nothing_present(weight, hub_index, satellite_index, satellite_size, group, state_of, p_absent, mu0,
                                    w0, M, log_const, by_hub_none, none_mix.reshape((G, W)))

    # the sweep's program: which conditions, in which order, with which slots open (sizes: at most)
    greedy = M > GREEDY_SLOTS
    n_steps_max = 2 * G + n + M
    edge_start, i = _take(ints, i, n + 1)
    edge_slot, i = _take(ints, i, E)
    edge_p, f = _take(floats, f, E)
    edge_bit, i = _take(ints, i, E)
    remaining, i = _take(ints, i, m)
    swept, b = _take(flags, b, n)
    scratch, i = _take(ints, i, max(n, m))
    block_group, i = _take(ints, i, n)
    block_first, i = _take(ints, i, n)
    block_stop, i = _take(ints, i, n)
    block_members, i = _take(ints, i, n)
    order, i = _take(ints, i, n)
    for j in range(n):
        order[j] = j
    rows = n if greedy else 0
    slots = M if greedy else 0
    count, i = _take(ints, i, rows * slots)
    left, b = _take(flags, b, rows)
    is_open, b = _take(flags, b, slots)
    step_kind, i = _take(ints, i, n_steps_max)
    step_index, i = _take(ints, i, n_steps_max)
    step_bit, i = _take(ints, i, n_steps_max)
    register_of, i = _take(ints, i, m)
    register_used, b = _take(flags, b, 64)
    n_steps, peak, member_count, log_fixed = _plan_sweep(
        slot_finding, M, cause_start, cause, cause_p, mu0, mu1, w0, w1, group, G, edge_start, edge_slot, edge_p,
        remaining, swept, scratch, block_group, block_first, block_stop, block_members, order,
        count.reshape((rows, slots)), left, is_open, step_kind, step_index, step_bit, edge_bit, register_of,
        register_used)
    if log_fixed == -np.inf:
        return _unanswered(IMPOSSIBLE)
    log_const += log_fixed
    if peak > MAX_OPEN:
        return DECLINED, 0.0, np.nan
    size = 1 << peak

    # 2.-5. per hub configuration: weights, sweep, backward pass, closed forms
    log_total, f = _take(floats, f, A)
    log_total[:] = -np.inf
    by_hub, f = _take(floats, f, A * n)
    by_hub[:] = 0.0
    q0, f = _take(floats, f, n * W)
    q1, f = _take(floats, f, n * W)
    norm, f = _take(floats, f, n * W)
    mix, f = _take(floats, f, G * W)
    mix[:] = 0.0
    satellite, f = _take(floats, f, G * W)
    satellite[:] = 0.0
    share, f = _take(floats, f, A)
    stored_at, i = _take(ints, i, n)
    stored_at[:] = -1
    live, i = _take(ints, i, W)
    if vectors.shape[0] < _vectors_size(W, G, size, member_count):   # not from _workspace
        return DECLINED, 0.0, np.nan
    v = 0
    alpha, v = _take(vectors, v, W * size)
    alpha[:] = 0.0
    beta, v = _take(vectors, v, W * size)
    beta[:] = 0.0
    work, v = _take(vectors, v, size)
    stored, v = _take(vectors, v, member_count * W * size)
    exits, v = _take(vectors, v, G * W * size)
    status = _hub_configurations(weight, hub_index, satellite_index, satellite_size, group, state_of, p_absent,
                                 p_present, u, mu0, mu1, w0, w1, swept, step_kind, step_index, step_bit, n_steps,
                                 edge_bit, edge_p, edge_start, log_total, by_hub.reshape((A, n)), q0.reshape((n, W)),
                                 q1.reshape((n, W)), norm.reshape((n, W)), mix.reshape((G, W)),
                                 satellite.reshape((G, W)), alpha.reshape((W, size)), beta.reshape((W, size)), work,
                                 stored.reshape((member_count, W, size)), stored_at, exits.reshape((G, W, size)),
                                 live)
    if status != ANSWERED:
        return _unanswered(status)

    # 5. combine the hub configurations
    status, log_evidence = _combine(log_total, by_hub.reshape((A, n)), conditions, log_const, share, posterior)
    return status, log_evidence, log_none


@njit(nogil=True)
def _workspace(prior, satellite_index, p_absent, cause, m):
    """A batch's workspace: the flat buffers, and state vectors for the most slots ever open at once."""
    A, n, W = p_absent.shape
    G = satellite_index.shape[0]
    ints, floats, flags = _buffers(n, m, cause.shape[0], G, W, A, prior.shape[0])
    return ints, floats, flags, np.empty(_vectors_size(W, G, 1 << MAX_OPEN, n))


@njit(nogil=True)
def query_rows(prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
               p_absent, p_present, leak, cause_start, cause, cause_p,
               context, conditions, findings, status, log_evidence, posterior):
    """:func:`query_one` for each row of ``context`` ``(N, T + 1)``, ``conditions`` ``(N, n, 2)`` and
    ``findings`` ``(N, m, 2)``, into ``status`` ``(N,)``, ``log_evidence`` ``(N,)`` and ``posterior``
    ``(N, n)``. Each row is computed exactly as alone, in one workspace."""
    ints, floats, flags, vectors = _workspace(prior, satellite_index, p_absent, cause, findings.shape[1])
    for i in range(context.shape[0]):
        status[i], log_evidence[i], _ = _answer(
            prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
            p_absent, p_present, leak, cause_start, cause, cause_p,
            context[i], conditions[i], findings[i], posterior[i], ints, floats, flags, vectors, False)


@njit(nogil=True)
def query_coded_rows(prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
                     p_absent, p_present, leak, cause_start, cause, cause_p,
                     codes, start, positions, presenting, population_row, first, stop,
                     status, log_evidence, posterior):
    """:func:`query_one` for cases ``first:stop`` of a cohort given as state codes ``codes`` ``(C, N)``
    with its code table (``start``, ``positions``, ``presenting``, ``population_row``; see
    :mod:`bayesnet.inference.coded`), into ``status``, ``log_evidence`` and ``posterior`` at the same
    rows. Each case's likelihoods are written into one buffer just before it is answered."""
    A, n, W = p_absent.shape
    m = leak.shape[0]
    T1 = prior.shape[0]
    ints, floats, flags, vectors = _workspace(prior, satellite_index, p_absent, cause, m)
    flat = np.empty(T1 + 2 * n + 2 * m)
    context = flat[:T1]
    conditions = flat[T1:T1 + 2 * n].reshape((n, 2))
    findings = flat[T1 + 2 * n:].reshape((m, 2))
    for i in range(first, stop):
        fill_row(codes, i, start, positions, presenting, population_row, T1 + 2 * n, T1, flat)
        status[i], log_evidence[i], _ = _answer(
            prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
            p_absent, p_present, leak, cause_start, cause, cause_p,
            context, conditions, findings, posterior[i], ints, floats, flags, vectors, False)


@njit(nogil=True)
def query_parameter_rows(prior, hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
                         p_absent, p_present, leak, cause_start, cause, cause_p,
                         context, conditions, findings, status, log_evidence, posterior):
    """:func:`query_one` for one evidence set under each parameter set ``b``: ``prior`` ``(B, T + 1)``,
    ``p_absent`` and ``p_present`` ``(B, A, n, W)``, ``leak`` ``(B, m)`` and ``cause_p`` ``(B, E)``
    (the causes themselves are shared), into outputs of leading length ``B``, in one workspace."""
    ints, floats, flags, vectors = _workspace(prior[0], satellite_index, p_absent[0], cause, findings.shape[0])
    for b in range(prior.shape[0]):
        status[b], log_evidence[b], _ = _answer(
            prior[b], hub_index, satellite_index, satellite_size, unused_start, unused_stop, group,
            p_absent[b], p_present[b], leak[b], cause_start, cause, cause_p[b],
            context, conditions, findings, posterior[b], ints, floats, flags, vectors, False)
