"""Exact inference for a :class:`~bayesnet.knowledge.network.NoisyOrNetwork`, for one case or a batch.

The method
----------
Each finding's evidence is a likelihood ``(lam0, lam1)`` over absent/present, and
``P(F = absent | d) = a * prod_j b_j^d_j`` with ``a = 1 - leak`` and ``b_j = 1 - p_j``.

1. **Negative findings absorb exactly.** A finding with ``lam1 = 0`` contributes
   ``lam0 * a * prod_j b_j^d_j``: a constant and a likelihood ``[1, b_j]`` on each cause. A finding
   with ``lam0 = lam1`` contributes a constant. Neither is seen again.
2. **The context is split** (:mod:`bayesnet.inference.context`) into a hub, enumerated as an axis, and
   satellites, each summed over its own group of conditions. Context known in the evidence
   collapses both to one configuration.
3. **The other findings** (positive or soft: the *slots*) are summed exactly by the activation
   sweep (:mod:`bayesnet.inference.sweep`), whose state is which slots some present cause has already
   activated. Every term is non-negative, so the answer is exact to rounding for any number of
   positive findings (Quickscore's alternating sum is not used: it loses all precision by ten
   positive findings).

Two implementations
-------------------
* **The compiled kernel** (:mod:`bayesnet.inference.kernel`) answers almost every query: one evidence set,
  each case of a batch (:meth:`ExactEngine.query_batch`, in threads), or one evidence set under
  each of a batch of parameter sets (:func:`query_parameter_batch`). A case's answer in a batch is
  the same arithmetic as alone, to the last bit.
* **The general vectorised path** (:func:`_evaluate`) answers what the kernel declines: a weight
  too close to underflow for the kernel's linear arithmetic (it works in logs), or more slots open
  at once than the kernel holds (it splits the sum over the states of the conditions that open the
  most slots, so memory stays bounded for any evidence). It keeps a leading batch axis and folds a
  slot that only one condition can produce into that condition's weights.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bayesnet.inference.coded import CodeTable, fill_rows
from bayesnet.inference.context import ContextStructure, context_structure, log_absent_table
from bayesnet.inference.evidence import EncodedEvidence, EvidenceBatch
from bayesnet.knowledge.network import NoisyOrNetwork
from bayesnet.inference.kernel import ANSWERED, DECLINED, IMPOSSIBLE, MAX_OPEN, KernelTables
from bayesnet.inference.sweep import plan, sweep

__all__ = ["ExactEngine", "Answer", "ParameterBatch", "query_parameter_batch"]

#: stands for log(0) inside matrix products (0 * -inf would be NaN); sums below LOG_ZERO / 10
#: are read back as -inf
LOG_ZERO = -1e300
#: parameter sets laid out for the kernel at a time (about 60 kB each on the shipped network)
PARAMETER_CHUNK = 2048


@dataclass(frozen=True)
class Answer:
    """The result of one query: log P(evidence), P(condition present | evidence) per condition, and
    log P(evidence, every condition absent) (``log_none``: the evidence explained by the leaks alone)."""

    log_evidence: float
    posterior: np.ndarray
    log_none: float = np.nan

    @property
    def none(self) -> float:
        """P(no condition present | evidence)."""
        return float(np.exp(self.log_none - self.log_evidence)) if self.log_evidence > -np.inf else np.nan


@dataclass(frozen=True, eq=False)
class _Parameters:
    """The network's numbers as the engine uses them, with a leading batch axis (1 or B)."""

    prior: np.ndarray          # (B, T + 1): every context state's prior, and 0 for the padding entry
    log_absent: np.ndarray     # (B, A, n, W): log P(condition absent | hub configuration, satellite state)
    log_present: np.ndarray    # (B, A, n, W): log P(condition present | ...)
    log_a: np.ndarray          # (B, m): log(1 - finding leak)
    log_b: np.ndarray          # (B, m, n): log(1 - link), LOG_ZERO for log(0)
    link: np.ndarray           # (B, m, n)
    leak: np.ndarray           # (B, m)

    @classmethod
    def build(cls, structure: ContextStructure, context_prior: Sequence[np.ndarray], condition_leak: np.ndarray,
              risk: Sequence[np.ndarray], finding_leak: np.ndarray, link: np.ndarray) -> _Parameters:
        """From network arrays that each carry a leading batch axis."""
        link = np.asarray(link, float)
        prior = _padded_prior(context_prior, link.shape[0])
        log_absent = log_absent_table(structure, condition_leak, tuple(risk))
        with np.errstate(divide="ignore"):
            log_present = np.log(-np.expm1(log_absent))
            log_b = np.maximum(np.log1p(-link), LOG_ZERO)
            log_a = np.log1p(-np.asarray(finding_leak, float))
        return cls(prior, log_absent, log_present, log_a, log_b, link, np.asarray(finding_leak, float))


class ExactEngine:
    """Exact posteriors of every condition for a :class:`NoisyOrNetwork`.

    Parameters
    ----------
    network
        The network; everything that does not depend on evidence is computed here, once.
    workers
        Threads that answer the chunks of a large batch (default: the number of cores, at most 4;
        numpy releases the interpreter lock in its loops). Results do not depend on it.

    Examples
    --------
    >>> engine = ExactEngine(network)                                       # doctest: +SKIP
    >>> answer = engine.query(encode_evidence(network, {"f": "present"}))  # doctest: +SKIP
    >>> answer.posterior                                                     # doctest: +SKIP
    """

    def __init__(self, network: NoisyOrNetwork, workers: int | None = None):
        self.network = network
        #: threads answering the chunks of a large batch (the compiled kernel releases the GIL)
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self.structure = context_structure(network)
        self._parameters = p = _Parameters.build(
            self.structure, [p[None] for p in network.context_prior], network.condition_leak[None],
            [r[None] for r in network.risk], network.finding_leak[None], network.link[None])
        self._kernel = KernelTables.build(self.structure, p.prior, p.log_absent, p.link, p.leak)

    # ------------------------------------------------------------------ public
    def query(self, evidence: EncodedEvidence) -> Answer:
        """P(condition present | evidence) for every condition, and log P(evidence).

        Impossible evidence gives ``log_evidence = -inf`` and a posterior of NaN. Evidence with
        ``alternatives`` is answered as their weighted sum.
        """
        if evidence.alternatives:
            weights = [w for w, _ in evidence.alternatives]
            parts = [self.query(evidence.with_findings(rows)) for _, rows in evidence.alternatives]
            log_evidence, posterior = mix(weights, np.array([[a.log_evidence] for a in parts]),
                                          np.array([[a.posterior] for a in parts]))
            log_none, _ = mix(weights, np.array([[a.log_none] for a in parts]), np.zeros((len(parts), 1, 1)))
            return Answer(float(log_evidence[0]), posterior[0], float(log_none[0]))
        context = np.concatenate([*evidence.context, _PAD])
        status, log_evidence, log_none, posterior = self._kernel.one(context, evidence.conditions, evidence.findings)
        if status == ANSWERED:
            return Answer(log_evidence, posterior, log_none)
        if status == IMPOSSIBLE:
            return Answer(-np.inf, np.full(posterior.shape, np.nan), -np.inf)
        return self._declined(context, evidence.conditions, evidence.findings)

    def _declined(self, context: np.ndarray, conditions: np.ndarray, findings: np.ndarray) -> Answer:
        """A case the kernel declines (too many slots open at once): the sum split over the states of
        the conditions that open the most slots (:func:`_kernel_cut`), each branch answered by the
        kernel with those conditions known, a branch it still declines by the general path."""
        for limit in range(MAX_OPEN, 1, -2):       # the kernel orders conditions its own way: cut until it answers
            cut = _kernel_cut(self.structure, self.network.link, conditions, findings, limit)
            first = self._kernel.one(context, _branch(conditions, cut, (0,) * len(cut)), findings)
            if first[0] != DECLINED:
                break
        log_evidence, log_none, posterior = self._branches(context, conditions, findings, cut, first)
        log_evidence, posterior = _finish(np.array([log_evidence]), posterior[None], conditions[None])
        return Answer(float(log_evidence[0]), posterior[0], log_none)

    def _branches(self, context: np.ndarray, conditions: np.ndarray, findings: np.ndarray, cut: Sequence[int],
                  first: tuple) -> tuple[float, float, np.ndarray]:
        """log P(evidence), log P(evidence, every condition absent) and the posteriors, summed over every
        branch of the conditions ``cut``: the kernel answers them in batches (``first``, its answer
        with every cut condition absent, is reused), the general path the branches it declines."""
        count = 1 << len(cut)
        logs = np.empty(count)
        parts = np.empty((count, conditions.shape[0]))
        status0, logs[0], log_none, parts[0] = first
        states = (np.arange(count)[:, None] >> np.arange(len(cut))[None, :]) & 1           # (B, cut): 1 present
        for start in range(1, count, BRANCH_CHUNK):
            rows = np.arange(start, min(start + BRANCH_CHUNK, count))
            known = np.repeat(conditions[None], rows.size, axis=0)
            for k, j in enumerate(cut):
                known[np.arange(rows.size), j, 1 - states[rows, k]] = 0.0
            status, log_e, post = self._kernel.rows(np.repeat(context[None], rows.size, axis=0), known,
                                                    np.repeat(findings[None], rows.size, axis=0))
            logs[rows], parts[rows] = log_e, post
            for i in np.flatnonzero(status == DECLINED):
                log_g, post_g = _evaluate(self.structure, self._parameters, context[None], known[i][None],
                                          findings[None])
                logs[rows[i]], parts[rows[i]] = float(log_g[0]), post_g[0]
            impossible = status == IMPOSSIBLE
            logs[rows[impossible]] = -np.inf
            parts[rows[impossible]] = 0.0
        if status0 == DECLINED:
            known = _branch(conditions, cut, (0,) * len(cut))
            log_g, post_g = _evaluate(self.structure, self._parameters, context[None], known[None], findings[None])
            logs[0], parts[0] = float(log_g[0]), post_g[0]
            # with a cut condition present, nothing-present is impossible: only this branch has it
            log_n, _ = _evaluate(self.structure, self._parameters, context[None], (known * np.array([1.0, 0.0]))[None],
                                 findings[None])
            log_none = float(log_n[0])
        elif status0 == IMPOSSIBLE:
            logs[0], log_none, parts[0] = -np.inf, -np.inf, 0.0
        log_evidence, posterior = mix(np.ones(count), logs[:, None], np.nan_to_num(parts)[:, None, :])
        return float(log_evidence[0]), float(log_none), posterior[0]

    def query_batch(self, batch: EvidenceBatch, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """log P(evidence) ``(N,)`` and P(condition present | evidence) ``(N, n)`` for N cases.

        A case with impossible evidence gets ``-inf`` and a row of NaN. Every case is answered
        exactly as :meth:`query` answers it alone (the same compiled arithmetic, to the last bit),
        in ``workers`` threads (default: the engine's ``workers``) over contiguous chunks of cases.
        """
        findings = np.ascontiguousarray(batch.findings, dtype=float)
        N = findings.shape[0]
        context = np.concatenate([np.asarray(c, float) for c in batch.context] + [np.zeros((N, 1))], axis=1)
        conditions = np.ascontiguousarray(batch.conditions, dtype=float)
        threads = self.workers if workers is None else max(1, int(workers))
        status, log_evidence, posterior = self._kernel.rows(context, conditions, findings, threads)
        _settle(status, log_evidence, posterior, lambda r: self._declined(context[r], conditions[r], findings[r]))
        return log_evidence, posterior

    def query_coded(self, codes: np.ndarray, table: CodeTable, workers: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`query_batch` for N cases of hard evidence given as state codes ``(C, N)`` (one row per
        column of ``table``; a state's index, or a negative number where unobserved): the same answers,
        without building the cases' likelihood arrays (see :mod:`bayesnet.inference.coded`)."""
        codes = np.ascontiguousarray(codes)
        threads = self.workers if workers is None else max(1, int(workers))
        status, log_evidence, posterior = self._kernel.coded_rows(codes, table, threads)

        def declined(r: int) -> Answer:
            context, conditions, findings = fill_rows(table, codes[:, r:r + 1])
            return self._declined(context[0], conditions[0], findings[0])

        _settle(status, log_evidence, posterior, declined)
        return log_evidence, posterior


_PAD = np.zeros(1)


def _padded_prior(context_prior: Sequence[np.ndarray], rows: int) -> np.ndarray:
    """``(rows, T + 1)``: the context priors ``(rows, states_k)`` side by side, then 0 (the padding entry)."""
    return np.concatenate([np.asarray(p, float) for p in context_prior] + [np.zeros((rows, 1))], axis=1)


#: branches of a declined case answered per batch call of the kernel
BRANCH_CHUNK = 4096


def _settle(status: np.ndarray, log_evidence: np.ndarray, posterior: np.ndarray,
            general: Callable[[int], Answer]) -> None:
    """In place: rows the kernel declined answered by ``general(row)`` (split, see ``_declined``),
    rows it found impossible set to ``-inf`` and NaN."""
    for r in np.flatnonzero(status == DECLINED):
        answer = general(int(r))
        log_evidence[r], posterior[r] = answer.log_evidence, answer.posterior
    impossible = status == IMPOSSIBLE
    log_evidence[impossible] = -np.inf
    posterior[impossible] = np.nan


def mix(weights: Sequence[float], log_evidence: np.ndarray, posterior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Combine the answers to hard alternatives of soft evidence, weighted by ``weights``.

    ``log_evidence`` is ``(A, N)`` and ``posterior`` ``(A, N, n)`` for ``A`` alternatives; returns
    log of ``sum_a w_a P(e_a)`` ``(N,)`` and the posteriors ``(N, n)``, each alternative weighted by
    its share of that sum (impossible alternatives have none).
    """
    with np.errstate(divide="ignore"):
        terms = np.log(np.asarray(weights, float))[:, None] + log_evidence
    top = terms.max(axis=0)
    safe = np.where(top > -np.inf, top, 0.0)
    share = np.exp(terms - safe)
    total = share.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        combined = np.log(total) + safe
        weight = share / total
        posterior = np.einsum("an,anj->nj", weight, np.nan_to_num(posterior))
    impossible = ~(combined > -np.inf)
    combined[impossible] = -np.inf
    posterior[impossible] = np.nan
    return combined, posterior


def default_workers() -> int:
    """Threads for batch work: the number of cores, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _known(structure: ContextStructure, context: np.ndarray) -> np.ndarray:
    """``(N,)``: whether every context node has exactly one state of non-zero likelihood."""
    counts = np.add.reduceat(context[:, :-1] > 0, structure.offsets[:-1], axis=1)
    return np.all(counts == 1, axis=1)


def _evaluate(structure: ContextStructure, params: _Parameters, context: np.ndarray, conditions: np.ndarray,
              findings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log P(evidence) ``(N,)`` and posteriors ``(N, n)`` for rows with equally many slots.

    ``context`` is the concatenated context likelihoods ``(N, T + 1)`` (last column 0),
    ``conditions`` ``(N, n, 2)`` and ``findings`` ``(N, m, 2)``; evidence has a leading axis of 1 or
    N rows and the parameters one of 1 or N; they broadcast. The context is collapsed to one
    configuration when every row knows it fully, and otherwise kept whole (every hub configuration,
    every satellite summed), so the arithmetic of a row never depends on the other rows.

    With the adaptive plan, if the sweep would hold too many slots open at once (a condition with
    many positive findings that have other causes too), the sum is split over the states of the
    conditions that open the most slots (:func:`_split`): memory stays bounded for any evidence.
    """
    N = max(findings.shape[0], params.log_absent.shape[0], context.shape[0])
    lam0, lam1 = findings[..., 0], findings[..., 1]
    informative = lam0 != lam1
    absorbed = informative & (lam1 == 0)
    slot_mask = informative & (lam1 > 0)
    with np.errstate(divide="ignore"):
        log_lam0 = np.log(lam0)
    log_const = np.where(informative, np.where(absorbed, log_lam0 + params.log_a, 0.0), log_lam0).sum(axis=1)
    if params.log_b.shape[0] == 1:
        log_u = _absorb(absorbed, params.log_b[0])                                         # (N, n)
    else:
        log_u = np.einsum("bi,bij->bj", np.broadcast_to(absorbed, params.log_a.shape).astype(float), params.log_b)
    log_u = np.where(log_u < LOG_ZERO / 10, -np.inf, log_u)

    # ---- slots: positive and soft findings
    M = int(slot_mask[0].sum())
    links = final = None
    if M:
        index = np.nonzero(np.broadcast_to(slot_mask, (N, slot_mask.shape[1])))[1].reshape(N, M)
        rows = np.arange(N)[:, None]
        p_rows = rows if params.link.shape[0] > 1 else 0
        e_rows = rows if lam0.shape[0] > 1 else 0
        links = params.link[p_rows, index]                                                 # (N, M, n)
        leak = params.leak[p_rows, index]
        l0, l1 = lam0[e_rows, index], lam1[e_rows, index]
        final = np.stack([l1 * leak + l0 * (1.0 - leak), l1], axis=-1)                      # (N, M, 2)
        top = final.max(axis=-1)
        final = final / top[..., None]
        log_const = log_const + np.log(top).sum(axis=1)
        cut = _cutset(structure, context, links)
        if cut.size:
            return _split(structure, params, context, conditions, log_const, log_u, links, final, cut)
    return _core(structure, params, context, conditions, log_const, log_u, links, final)


def _branch(conditions: np.ndarray, cut: Sequence[int], branch: Sequence[int]) -> np.ndarray:
    """The conditions' likelihoods with each condition of ``cut`` known to be in its ``branch`` state."""
    known = conditions.copy()
    for j, state in zip(cut, branch):
        known[j, 1 - state] = 0.0
    return known


def _kernel_cut(structure: ContextStructure, link: np.ndarray, conditions: np.ndarray, findings: np.ndarray,
                limit: int = MAX_OPEN) -> list[int]:
    """Conditions to split a declined case over so that at most ``limit`` slots are open at once: the
    slots (positive or soft findings with two or more causes) planned as the general path visits the
    conditions, the condition with the most slots taken out until the plan fits. A condition with
    hard evidence is never cut: the kernel does not sweep it (and one of its branches would be
    impossible)."""
    lam0, lam1 = findings[:, 0], findings[:, 1]
    active = link[(lam0 != lam1) & (lam1 > 0)] > 0
    active[:, (conditions == 0).any(axis=1)] = False
    return _greedy_cut(active, structure.group, limit)


def _greedy_cut(active: np.ndarray, group: np.ndarray, limit: int) -> list[int]:
    """Conditions to take out of the sweep (``active`` ``(M, n)``: which conditions can activate which
    slot) until its plan holds at most ``limit`` slots open: each time the one with the most slots."""
    cut: list[int] = []
    while True:
        active = active & (active.sum(axis=1, keepdims=True) > 1)  # slots of one cause are absorbed
        if not active.any() or plan(active, group).peak <= limit:
            return cut
        j = int(active.sum(axis=0).argmax())
        cut.append(j)
        active[:, j] = False


def _absorb(absorbed: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """``(N, n)``: for each row, the sum of ``log_b`` over its absorbed findings, added in finding
    order (so a row's sum does not depend on the other rows)."""
    N = absorbed.shape[0]
    count = absorbed.sum(axis=1)
    width = int(count.max(initial=0))
    if width == 0:
        return np.zeros((N, log_b.shape[1]))
    order = np.argsort(~absorbed, axis=1, kind="stable")[:, :width]                       # absorbed first
    padded = np.vstack([log_b, np.zeros((1, log_b.shape[1]))])
    index = np.where(np.arange(width)[None, :] < count[:, None], order, log_b.shape[0])
    total = padded[index[:, 0]].copy()
    for column in range(1, width):
        total += padded[index[:, column]]
    return total


#: the adaptive sweep may hold at most this many states (open slots x context configurations) per row
STATE_LIMIT = 1 << 15


def _cutset(structure: ContextStructure, context: np.ndarray, links: np.ndarray) -> np.ndarray:
    """Conditions to split the sum over so that the sweep's state stays within ``STATE_LIMIT``."""
    spread = 1 if np.all(_known(structure, context)) else structure.hub_size * structure.width
    active = (links != 0).any(axis=0)                                                       # (M, n)
    if (spread << min(int(active.any(axis=1).sum()), 60)) <= STATE_LIMIT:
        return np.zeros(0, dtype=int)
    group = structure.group if spread > 1 else np.full(active.shape[1], -1)
    limit = (STATE_LIMIT // spread).bit_length() - 1       # spread << peak <= STATE_LIMIT
    return np.asarray(_greedy_cut(active, group, limit), dtype=int)


def _split(structure: ContextStructure, params: _Parameters, context: np.ndarray, conditions: np.ndarray,
           log_const: np.ndarray, log_u: np.ndarray, links: np.ndarray, final: np.ndarray,
           cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum over the states of the conditions in ``cut`` one branch at a time (non-negative terms).

    In a branch each condition of ``cut`` is known: absent, or present, when it activates each of
    its slots with its link probability, which folds into that slot's weight when not otherwise
    activated: ``final[k, 0] -> final[k, 0] (1 - p) + final[k, 1] p``.
    """
    N = links.shape[0]
    n = links.shape[2]
    conditions = np.broadcast_to(conditions, (N, n, 2))
    bits = ((np.arange(1 << cut.size)[:, None] >> np.arange(cut.size)[None, :]) & 1).astype(bool)
    trimmed = links.copy()
    trimmed[:, :, cut] = 0.0
    totals, parts = [], []
    for branch in bits:
        mu = conditions.copy()
        mu[:, cut, 0] = np.where(branch, 0.0, mu[:, cut, 0])
        mu[:, cut, 1] = np.where(branch, mu[:, cut, 1], 0.0)
        weights = final.copy()
        for j in cut[branch]:
            p = links[:, :, j]
            weights[:, :, 0] = weights[:, :, 0] * (1.0 - p) + weights[:, :, 1] * p
        log_evidence, posterior = _core(structure, params, context, mu, log_const, log_u, trimmed, weights)
        totals.append(log_evidence)
        parts.append(posterior)
    log_evidence, posterior = mix(np.ones(len(totals)), np.stack(totals), np.stack(parts))    # branches add up
    return _finish(log_evidence, posterior, conditions)


def _core(structure: ContextStructure, params: _Parameters, context: np.ndarray, conditions: np.ndarray,
          log_const: np.ndarray, log_u: np.ndarray, links: np.ndarray | None, final: np.ndarray | None,
          ) -> tuple[np.ndarray, np.ndarray]:
    """The context, the conditions' weights and the sweep, for slots already extracted.

    With the adaptive plan, a slot that only one condition can activate is absorbed into that
    condition's weights (``final[k, 0]`` when absent, ``final[k, 0] (1 - p) + final[k, 1] p`` when
    present), like a negative finding.
    """
    N = max(conditions.shape[0], params.log_absent.shape[0], context.shape[0], log_const.shape[0])
    n = params.log_absent.shape[2]
    M = 0 if links is None else links.shape[1]
    add0 = add1 = None
    if M:
        active = (links != 0).any(axis=0)                                                   # (M, n)
        lone = active.sum(axis=1) == 1
        if lone.any():
            k = lone.nonzero()[0]
            cause = active[k].argmax(axis=1)
            p = links[:, k, cause]                                                          # (N, K)
            w0, w1 = final[:, k, 0], final[:, k, 1]
            with np.errstate(divide="ignore"):
                terms = np.stack([np.log(w0), np.log(w0 * (1.0 - p) + w1 * p)])            # (2, N, K)
            onto = np.zeros((k.size, n))
            onto[np.arange(k.size), cause] = 1.0
            add0, add1 = np.where((added := np.maximum(terms, LOG_ZERO) @ onto) < LOG_ZERO / 10, -np.inf, added)
            links, final = links[:, ~lone], final[:, ~lone]
            M = links.shape[1]
            if not M:
                links = final = None

    # ---- context
    weight = params.prior * context                                                         # (N, T + 1)
    with np.errstate(divide="ignore"):
        log_weight = np.log(weight)
    offsets = structure.offsets
    mixing = None
    group = structure.group
    if np.all(_known(structure, weight)):
        state = np.stack([np.argmax(weight[:, offsets[k]:offsets[k + 1]], axis=1)
                          for k in range(len(structure.cards))], axis=1)                     # (N, K)
        log_const = log_const + np.take_along_axis(log_weight, offsets[:-1] + state, axis=1).sum(axis=1)
        hub = (state[:, list(structure.hub)] * structure.hub_strides).sum(axis=1) if structure.hub else np.zeros(N, int)
        satellite_state = np.zeros((N, n), dtype=int)
        has = group >= 0
        if np.any(has):
            satellite_state[:, has] = structure.joint_states(state)[:, group[has]]
        b_rows = np.arange(N)[:, None] if params.log_absent.shape[0] > 1 else 0
        columns = np.arange(n)[None, :]
        log_absent = params.log_absent[b_rows, hub[:, None], columns, satellite_state][:, None, :, None]
        log_present = params.log_present[b_rows, hub[:, None], columns, satellite_state][:, None, :, None]
        log_hub = np.zeros((N, 1))
        group = np.full(n, -1)
    else:
        for k in structure.unused:
            with np.errstate(divide="ignore"):
                log_const = log_const + np.log(weight[:, offsets[k]:offsets[k + 1]].sum(axis=1))
        log_hub = log_weight[:, structure.hub_index].sum(axis=2) if structure.hub else np.zeros((N, 1))
        log_absent, log_present = params.log_absent, params.log_present

    # ---- condition weights: q0, q1 normalised, log f their log sum
    with np.errstate(divide="ignore"):
        log_mu = np.log(conditions)
    log_h0 = log_mu[:, None, :, None, 0] + log_absent
    log_h1 = log_mu[:, None, :, None, 1] + log_present + log_u[:, None, :, None]
    if add0 is not None:
        log_h0 = log_h0 + add0[:, None, :, None]
        log_h1 = log_h1 + add1[:, None, :, None]
    possible = (log_h0 > -np.inf) | (log_h1 > -np.inf)
    with np.errstate(invalid="ignore"):
        gap = np.where(possible, log_h1 - log_h0, 0.0)
    small = np.exp(-np.abs(gap))
    big = 1.0 / (1.0 + small)
    small = small * big
    q1 = np.where(possible, np.where(gap > 0, big, small), 0.0)
    q0 = np.where(possible, np.where(gap > 0, small, big), 0.0)
    log_f = np.where(possible, np.maximum(log_h0, log_h1) - np.log(big), -np.inf)          # (N, A, n, W)
    A = log_f.shape[1]
    plain = group < 0
    log_total = log_hub + log_f[:, :, plain, 0].sum(axis=2)                                # (N, A)
    sizes: tuple[int, ...] = ()
    if not np.all(plain):
        sizes = structure.satellite_sizes
        joint = np.einsum("najw,jg->nagw", np.maximum(log_f, LOG_ZERO), structure.membership)
        joint = (np.where(joint < LOG_ZERO / 10, -np.inf, joint)
                 + structure.satellite_log_weight(log_weight)[:, None])
        top = joint.max(axis=3, keepdims=True)
        safe_top = np.where(top > -np.inf, top, 0.0)
        share = np.exp(joint - safe_top)
        total = share.sum(axis=3, keepdims=True)
        mixing = np.where(total > 0, share / np.where(total > 0, total, 1.0), 0.0)           # (N, A, G, W)
        with np.errstate(divide="ignore"):
            group_total = (np.log(total) + safe_top)[..., 0]                                 # (N, A, G)
        log_total = log_total + group_total.sum(axis=2)

    # ---- the slots
    present = None
    satellite = mixing
    if M:
        result = sweep(q0, q1, links, final, group, mixing if mixing is not None else np.zeros((N, A, 0, 1)),
                       sizes)
        log_total = log_total + result.log_z
        present, swept, satellite = result.present, result.swept, result.satellite

    # ---- combine over hub configurations
    log_evidence, hub_posterior = _combine(log_total, log_const)
    if present is not None and np.all(swept):
        by_hub = present
    else:
        by_hub = q1[:, :, :, 0]
        if not np.all(plain):
            by_hub = (q1 * _with_plain(satellite)[:, :, np.where(plain, -1, group), :]).sum(axis=3)
        if present is not None:
            by_hub = np.where(swept, present, by_hub)
    posterior = np.einsum("na,naj->nj", hub_posterior, by_hub)
    return _finish(log_evidence, posterior, conditions)


def _combine(log_total: np.ndarray, log_const: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log P(evidence) ``(N,)`` and the posterior of the hub configurations ``(N, A)``."""
    top = log_total.max(axis=1, keepdims=True)
    safe_top = np.where(top > -np.inf, top, 0.0)
    share = np.exp(log_total - safe_top)
    total = share.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.log(total) + safe_top)[:, 0] + log_const, share / total


def _finish(log_evidence: np.ndarray, posterior: np.ndarray, conditions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Conditions given as certain are exactly certain; impossible evidence gives -inf and NaN."""
    posterior = np.where(conditions[..., 0] == 0, 1.0, np.where(conditions[..., 1] == 0, 0.0, posterior))
    bad = ~(log_evidence > -np.inf)
    if np.any(bad):
        log_evidence[bad] = -np.inf
        posterior[bad] = np.nan
    return log_evidence, np.clip(posterior, 0.0, 1.0)


def _with_plain(satellite: np.ndarray) -> np.ndarray:
    """Satellite posteriors ``(N, A, G, W)`` with one more group, last, certain of its first state."""
    extra = np.zeros(satellite.shape[:2] + (1, satellite.shape[3]))
    extra[..., 0] = 1.0
    return np.concatenate([satellite, extra], axis=2)


@dataclass(frozen=True, eq=False)
class ParameterBatch:
    """B alternative parameter sets for one network structure: each array has a leading axis of B.

    ``context_prior[k]`` is ``(B, states_k)``, ``condition_leak`` ``(B, n)``, ``risk[k]``
    ``(B, n, states_k)``, ``finding_leak`` ``(B, m)``, ``link`` ``(B, m, n)``. Entries that are zero
    in the network's structure (no link) must stay zero. ``ordered``, where given, holds each ordered
    finding's ``(leak (B, K), cause (B, n, K))`` from which its rows of ``link`` and ``finding_leak``
    were derived (the engine reads only the rows; :meth:`network` carries the tables too).
    """

    context_prior: tuple[np.ndarray, ...]
    condition_leak: np.ndarray
    risk: tuple[np.ndarray, ...]
    finding_leak: np.ndarray
    link: np.ndarray
    ordered: tuple[tuple[np.ndarray, np.ndarray], ...] | None = None

    @property
    def size(self) -> int:
        return int(self.condition_leak.shape[0])

    @classmethod
    def repeat(cls, network: NoisyOrNetwork, size: int) -> ParameterBatch:
        """``size`` copies of the network's own parameters (to be modified by the caller)."""
        tile = lambda a: np.repeat(np.asarray(a, float)[None], size, axis=0)  # noqa: E731
        return cls(tuple(tile(p) for p in network.context_prior), tile(network.condition_leak),
                   tuple(tile(r) for r in network.risk), tile(network.finding_leak), tile(network.link))

    def network(self, network: NoisyOrNetwork, b: int) -> NoisyOrNetwork:
        """Parameter set ``b`` as a network of the same structure."""
        ordered = network.ordered
        if self.ordered is not None:
            ordered = tuple(replace(o, leak=leak[b], cause=cause[b]) for o, (leak, cause) in zip(ordered, self.ordered))
        return network.with_parameters(
            context_prior=tuple(p[b] for p in self.context_prior), condition_leak=self.condition_leak[b],
            risk=tuple(r[b] for r in self.risk), finding_leak=self.finding_leak[b], link=self.link[b], ordered=ordered)


def query_parameter_batch(network: NoisyOrNetwork, batch: ParameterBatch, evidence: EncodedEvidence,
                          workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """log P(evidence) ``(B,)`` and P(condition present | evidence) ``(B, n)`` for every parameter set.

    Row ``b`` equals ``ExactEngine(batch.network(network, b)).query(evidence)`` to rounding. The
    parameter sets are answered by the compiled kernel in chunks of ``PARAMETER_CHUNK``, in
    ``workers`` threads (default: the number of cores, at most 4).
    """
    if evidence.alternatives:
        parts = [query_parameter_batch(network, batch, evidence.with_findings(rows), workers)
                 for _, rows in evidence.alternatives]
        return mix([w for w, _ in evidence.alternatives], np.stack([p[0] for p in parts]),
                   np.stack([p[1] for p in parts]))
    workers = default_workers() if workers is None else max(1, int(workers))
    structure = context_structure(network)
    size = batch.size
    log_evidence = np.empty(size)
    posterior = np.empty((size, len(network.conditions)))
    context = np.concatenate([*evidence.context, _PAD])
    for start in range(0, size, PARAMETER_CHUNK):
        r = slice(start, min(size, start + PARAMETER_CHUNK))
        prior = _padded_prior([p[r] for p in batch.context_prior], r.stop - r.start)
        log_absent = log_absent_table(structure, batch.condition_leak[r], tuple(x[r] for x in batch.risk))
        tables = KernelTables.build(structure, prior, log_absent, batch.link[r], batch.finding_leak[r])
        status, log_evidence[r], posterior[r] = tables.parameter_rows(context, evidence.conditions,
                                                                      evidence.findings, workers)

        def general(b: int, start: int = start) -> Answer:
            one = slice(start + b, start + b + 1)
            params = _Parameters.build(structure, [p[one] for p in batch.context_prior], batch.condition_leak[one],
                                       [x[one] for x in batch.risk], batch.finding_leak[one], batch.link[one])
            log_e, post = _evaluate(structure, params, context[None], evidence.conditions[None],
                                    evidence.findings[None])
            return Answer(float(log_e[0]), post[0])

        _settle(status, log_evidence[r], posterior[r], general)
    return log_evidence, posterior
