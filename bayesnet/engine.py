"""Exact inference for a :class:`~bayesnet.network.NoisyOrNetwork`, for one case or a batch.

The method
----------
Each finding's evidence is a likelihood ``(lam0, lam1)`` over absent/present, and
``P(F = absent | d) = a * prod_j b_j^d_j`` with ``a = 1 - leak`` and ``b_j = 1 - p_j``.

1. **Negative findings absorb exactly.** A finding with ``lam1 = 0`` contributes
   ``lam0 * a * prod_j b_j^d_j``: a constant and a likelihood ``[1, b_j]`` on each cause. A finding
   with ``lam0 = lam1`` contributes a constant. Neither is seen again.
2. **The context is split** (:mod:`bayesnet.context`) into a hub, enumerated as an axis, and
   satellites, each summed over its own group of conditions. Context known in the evidence
   collapses both to one configuration.
3. **The other findings** (positive or soft: the *slots*) are summed exactly, always as sums of
   non-negative terms, so the answer is exact to rounding for any number of positive findings
   (Quickscore's alternating sum is not used: it loses all precision by ten positive findings):

   * a slot only one condition can produce folds into that condition's weights, like a negative;
   * conditions that can produce only one slot are settled in closed form, and the few that can
     produce several are enumerated (:mod:`bayesnet.focused`): the fast path for one evidence set
     (:mod:`bayesnet.single`) and for batches of cases with the context known;
   * otherwise the activation sweep (:mod:`bayesnet.sweep`) runs over the conditions, its state
     being which slots some present cause has already activated; if that state would grow too
     large, the sum is split over the states of the conditions that open the most slots, so memory
     stays bounded for any evidence.
4. Everything is computed with a leading batch axis: a batch of cases
   (:meth:`ExactEngine.query_batch`) or of parameter sets (:func:`query_parameter_batch`). A case's
   answer in a batch does not depend on the other cases, to the last bit. Products that could
   underflow are kept in log form or rescaled by powers of two, so tiny priors and long lists of
   findings neither underflow nor lose precision.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .context import ContextStructure, context_structure, log_absent_table
from .evidence import EncodedEvidence, EvidenceBatch
from .focused import solve_rows
from .network import NoisyOrNetwork
from .single import LOG_ZERO, SingleQuery
from .sweep import plan, sweep

__all__ = ["ExactEngine", "Answer", "ParameterBatch", "query_parameter_batch"]

#: bytes of working memory a batch chunk may use (the sweep's adjoints dominate)
CHUNK_BYTES = 1 << 26


@dataclass(frozen=True)
class Answer:
    """The result of one query: log P(evidence) and P(condition present | evidence) per condition."""

    log_evidence: float
    posterior: np.ndarray


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
        prior = np.concatenate([np.asarray(p, float) for p in context_prior]
                               + [np.zeros((link.shape[0], 1))], axis=1)
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
        #: threads answering the chunks of a large batch (numpy releases the GIL in its loops)
        self.workers = max(1, min(4, os.cpu_count() or 1)) if workers is None else max(1, int(workers))
        self.structure = context_structure(network)
        self._parameters = _Parameters.build(
            self.structure, [p[None] for p in network.context_prior], network.condition_leak[None],
            [r[None] for r in network.risk], network.finding_leak[None], network.link[None])
        p = self._parameters
        self._single = SingleQuery(self.structure, p.prior[0], p.log_absent[0], p.link[0], p.leak[0])

    # ------------------------------------------------------------------ public
    def query(self, evidence: EncodedEvidence) -> Answer:
        """P(condition present | evidence) for every condition, and log P(evidence).

        Impossible evidence gives ``log_evidence = -inf`` and a posterior of NaN.
        """
        fast = self._single(evidence)
        if fast is not None:
            return Answer(*fast)
        context = np.concatenate([*evidence.context, _PAD])[None]
        log_evidence, posterior = _evaluate(self.structure, self._parameters, context,
                                            evidence.conditions[None], evidence.findings[None])
        return Answer(float(log_evidence[0]), posterior[0])

    def query_batch(self, batch: EvidenceBatch) -> tuple[np.ndarray, np.ndarray]:
        """log P(evidence) ``(N,)`` and P(condition present | evidence) ``(N, n)`` for N cases.

        A case with impossible evidence gets ``-inf`` and a row of NaN. Cases are grouped by their
        number of positive or soft findings and by whether their context is fully known, and each
        group is answered in vectorised chunks with a plan that does not depend on the other cases,
        so a case's answer is the same, to the last bit, in any batch; it equals :meth:`query` to
        rounding (about 1e-15). Cases with more than ``BATCH_SLOTS`` positive or soft findings are
        answered one by one.
        """
        findings = np.asarray(batch.findings, float)
        n_cases = findings.shape[0]
        n = len(self.network.conditions)
        log_evidence = np.empty(n_cases)
        posterior = np.empty((n_cases, n))
        if n_cases == 0:
            return log_evidence, posterior
        context = np.concatenate([np.asarray(c, float) for c in batch.context] + [np.zeros((n_cases, 1))], axis=1)
        conditions = np.asarray(batch.conditions, float)
        slots = ((findings[..., 1] > 0) & (findings[..., 0] != findings[..., 1])).sum(axis=1)
        known = _known(self.structure, self._parameters.prior * context)  # as _core decides
        key = slots * 2 + known
        for value in np.unique(key):
            rows = np.flatnonzero(key == value)
            m, k = int(value // 2), bool(value % 2)
            if m > BATCH_SLOTS:
                for r in rows:
                    log_evidence[r], posterior[r] = (x[0] for x in _evaluate(
                        self.structure, self._parameters, context[r:r + 1], conditions[r:r + 1], findings[r:r + 1]))
                continue
            size = _chunk_size(self.structure, m, k, n, len(self.network.findings))
            pieces = [rows[start:start + size] for start in range(0, len(rows), size)]
            if len(pieces) > 1 and self.workers > 1:  # numpy releases the GIL in its loops
                with ThreadPoolExecutor(self.workers) as pool:
                    answers = list(pool.map(lambda r: _evaluate(self.structure, self._parameters, context[r],
                                                                conditions[r], findings[r], canonical=True), pieces))
            else:
                answers = [_evaluate(self.structure, self._parameters, context[r], conditions[r], findings[r],
                                     canonical=True) for r in pieces]
            for r, (log_e, post) in zip(pieces, answers):
                log_evidence[r], posterior[r] = log_e, post
        return log_evidence, posterior


_PAD = np.zeros(1)
#: cases with at most this many positive or soft findings are answered together by query_batch
BATCH_SLOTS = 8
#: a case of a batch with its context known is answered in closed form when at most this many of its
#: conditions can each activate several of its positive or soft findings (the rest are swept)
BATCH_MULTI = 3


def _known(structure: ContextStructure, context: np.ndarray) -> np.ndarray:
    """``(N,)``: whether every context node has exactly one state of non-zero likelihood."""
    counts = np.add.reduceat(context[:, :-1] > 0, structure.offsets[:-1], axis=1)
    return np.all(counts == 1, axis=1)


def _chunk_size(structure: ContextStructure, slots: int, known: bool, n: int, m: int) -> int:
    """Rows per chunk so that a chunk's working arrays stay within ``CHUNK_BYTES``."""
    spread = 1 if known else structure.hub_size * structure.width
    per_row = 8 * (spread * (12 * n + (n + 4) * 2 ** slots) + 4 * m + 2 * n)
    return max(1, CHUNK_BYTES // per_row)


def _evaluate(structure: ContextStructure, params: _Parameters, context: np.ndarray, conditions: np.ndarray,
              findings: np.ndarray, canonical: bool = False) -> tuple[np.ndarray, np.ndarray]:
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
        canonical = canonical and M <= BATCH_SLOTS  # the canonical plan keeps every slot open
        if not canonical:
            cut = _cutset(structure, context, links)
            if cut.size:
                return _split(structure, params, context, conditions, log_const, log_u, links, final, cut)
    return _core(structure, params, context, conditions, log_const, log_u, links, final, canonical)


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
    cut: list[int] = []
    group = structure.group if spread > 1 else np.full(active.shape[1], -1)
    while True:
        active = active & (active.sum(axis=1, keepdims=True) > 1)  # slots of one cause are absorbed
        if not active.any() or (spread << plan(active, group).peak) <= STATE_LIMIT:
            break
        j = int(active.sum(axis=0).argmax())
        cut.append(j)
        active[:, j] = False
    return np.asarray(cut, dtype=int)


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
        log_evidence, posterior = _core(structure, params, context, mu, log_const, log_u, trimmed, weights, False)
        totals.append(log_evidence)
        parts.append(posterior)
    totals_ = np.stack(totals)                                                                # (branches, N)
    top = totals_.max(axis=0)
    safe = np.where(top > -np.inf, top, 0.0)
    share = np.exp(totals_ - safe)
    total = share.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_evidence = np.log(total) + safe
        posterior = np.einsum("bn,bnj->nj", share / total, np.nan_to_num(np.stack(parts)))
    return _finish(log_evidence, posterior, conditions)


def _core(structure: ContextStructure, params: _Parameters, context: np.ndarray, conditions: np.ndarray,
          log_const: np.ndarray, log_u: np.ndarray, links: np.ndarray | None, final: np.ndarray | None,
          canonical: bool) -> tuple[np.ndarray, np.ndarray]:
    """The context, the conditions' weights and the sweep, for slots already extracted.

    With the adaptive plan, a slot that only one condition can activate is absorbed into that
    condition's weights (``final[k, 0]`` when absent, ``final[k, 0] (1 - p) + final[k, 1] p`` when
    present), like a negative finding.
    """
    N = max(conditions.shape[0], params.log_absent.shape[0], context.shape[0], log_const.shape[0])
    n = params.log_absent.shape[2]
    M = 0 if links is None else links.shape[1]
    add0 = add1 = None
    if M and not canonical:
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
            satellite_state[:, has] = state[:, np.asarray(structure.satellites)[group[has]]]
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
        sizes = tuple(structure.cards[k] for k in structure.satellites)
        joint = np.einsum("najw,jg->nagw", np.maximum(log_f, LOG_ZERO), structure.membership)
        joint = np.where(joint < LOG_ZERO / 10, -np.inf, joint) + log_weight[:, None, structure.satellite_index]
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
    if canonical and A == 1 and mixing is None:  # a batch with the context known: rows in closed form
        if not M:
            links, final = np.zeros((N, 0, n)), np.zeros((N, 0, 2))
        q0_, q1_ = np.broadcast_to(q0[:, 0, :, 0], (N, n)), np.broadcast_to(q1[:, 0, :, 0], (N, n))
        links, final = np.broadcast_to(links, (N,) + links.shape[1:]), np.broadcast_to(final, (N,) + final.shape[1:])
        log_row = np.broadcast_to(log_total[:, 0], (N,)).copy()
        by_row = q1_.copy()
        ok = np.zeros(N, bool)
        touches = (links > 0).sum(axis=1)
        multi = (touches >= 2).sum(axis=1)
        for count in np.unique(multi[multi <= BATCH_MULTI]):  # rows alike in size, so no padding
            rows = multi == count
            log_z, present, swept_rows, ok_rows = solve_rows(q0_[rows], q1_[rows], links[rows], final[rows],
                                                             max_multi=BATCH_MULTI)
            log_row[rows] += log_z
            by_row[rows] = np.where(swept_rows, present, q1_[rows])
            ok[rows] = ok_rows
        if not ok.all():
            bad = ~ok
            result = sweep(q0_[bad][:, None, :, None], q1_[bad][:, None, :, None], links[bad], final[bad],
                           group, np.zeros((int(bad.sum()), 1, 0, 1)), (), canonical=True)
            log_row[bad] = np.broadcast_to(log_total[:, 0], (N,))[bad] + result.log_z[:, 0]  # not yet added
            by_row[bad] = result.present[:, 0, :]
        with np.errstate(invalid="ignore"):
            return _finish(log_row + log_const, by_row, conditions)
    if M or canonical:
        if not M:
            links, final = np.zeros((N, 0, n)), np.zeros((N, 0, 2))
        result = sweep(q0, q1, links, final, group, mixing if mixing is not None else np.zeros((N, A, 0, 1)),
                       sizes, canonical=canonical)
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
    in the network's structure (no link) must stay zero.
    """

    context_prior: tuple[np.ndarray, ...]
    condition_leak: np.ndarray
    risk: tuple[np.ndarray, ...]
    finding_leak: np.ndarray
    link: np.ndarray

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
        return network.with_parameters(
            context_prior=tuple(p[b] for p in self.context_prior), condition_leak=self.condition_leak[b],
            risk=tuple(r[b] for r in self.risk), finding_leak=self.finding_leak[b], link=self.link[b])


def query_parameter_batch(network: NoisyOrNetwork, batch: ParameterBatch,
                          evidence: EncodedEvidence) -> tuple[np.ndarray, np.ndarray]:
    """log P(evidence) ``(B,)`` and P(condition present | evidence) ``(B, n)`` for every parameter set.

    Row ``b`` equals ``ExactEngine(batch.network(network, b)).query(evidence)`` to rounding; the
    parameter sets are answered together, in vectorised chunks.
    """
    structure = context_structure(network)
    size = batch.size
    m, n = batch.link.shape[1:]
    log_evidence = np.empty(size)
    posterior = np.empty((size, n))
    context = np.concatenate([*evidence.context, _PAD])[None]
    slots = int(((evidence.findings[:, 1] > 0) & (evidence.findings[:, 0] != evidence.findings[:, 1])).sum())
    known = bool(_known(structure, context)[0])
    chunk = max(1, min(_chunk_size(structure, slots, known, n, m), CHUNK_BYTES // (8 * 4 * m * n)))
    for start in range(0, size, chunk):
        r = slice(start, min(size, start + chunk))
        params = _Parameters.build(structure, [p[r] for p in batch.context_prior], batch.condition_leak[r],
                                   [x[r] for x in batch.risk], batch.finding_leak[r], batch.link[r])
        log_evidence[r], posterior[r] = _evaluate(structure, params, context, evidence.conditions[None],
                                                   evidence.findings[None])
    return log_evidence, posterior
