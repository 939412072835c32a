"""Exact inference for a :class:`~bayesnet.network.NoisyOrNetwork`.

The method
----------
Each finding's evidence is a likelihood ``(lam0, lam1)``; since
``P(F = absent | d) = B(d) = a * prod_j b_j^d_j`` with ``a = 1 - leak`` and ``b_j = 1 - p_j``, the
finding contributes the factor ``c0 + c1 * B(d)`` with ``c0 = lam1`` and ``c1 = lam0 - lam1``.

* A finding observed absent (``c0 = 0``) is a product over its causes: it is absorbed as a
  likelihood ``[1, b_j]`` on each cause and drops out.
* The other observed findings are expanded over subsets ``S`` (Quickscore): the sum over the
  conditions then factorises, because given the context the conditions are independent. The context
  configurations are enumerated and weighted by their priors.
* Quickscore's sum alternates in sign for positive findings and can cancel. Every expansion
  measures its own cancellation (sum of absolute terms over the absolute sum). When that ratio could
  cost more than about 1e-11 of accuracy, the engine conditions on the condition that causes the
  most positive findings (``d_j = 0`` and ``d_j = 1`` are solved separately and added: a sum of
  non-negative terms). A finding all of whose causes are fixed becomes a constant computed directly.
  The recursion ends at the latest when every cause of every positive finding is fixed, so the
  result is exact in every case; the work is chunked, so memory stays bounded.

All products are taken in log space, so tiny priors and long lists of findings neither underflow
nor lose precision.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .evidence import EncodedEvidence, EvidenceBatch
from .network import NoisyOrNetwork

__all__ = ["ExactEngine", "Answer", "ParameterBatch", "query_parameter_batch"]

#: the cancellation ratio above which an expansion is refined by conditioning
MAX_CANCELLATION = 1e4
#: elements of the (subsets x context configurations x conditions) block computed at once
CHUNK_ELEMENTS = 1 << 21
#: largest expansion attempted before conditioning first
MAX_EXPANSION = 1 << 26
LOG_ZERO = -1e4  # exp(LOG_ZERO) == 0.0 in float64; keeps 0 * log(0) out of matrix products


@dataclass(frozen=True)
class Answer:
    """The result of one query: log P(evidence) and P(condition present | evidence) per condition."""

    log_evidence: float
    posterior: np.ndarray


class _Sum:
    """A streaming signed sum of ``sign * exp(log_term)`` that also tracks the sum of absolute values."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.shift = np.full(shape, -np.inf)
        self.signed = np.zeros(shape)
        self.absolute = np.zeros(shape)

    def add(self, log_terms: np.ndarray, signs: np.ndarray, axis: tuple[int, ...]) -> None:
        top = np.max(log_terms, axis=axis, initial=-np.inf)
        new_shift = np.maximum(self.shift, top)
        finite = np.isfinite(new_shift)
        safe = np.where(finite, new_shift, 0.0)
        rescale = np.where(np.isfinite(self.shift), np.exp(self.shift - safe), 0.0)
        scaled = np.exp(log_terms - np.expand_dims(safe, axis))
        self.signed = self.signed * rescale + np.sum(signs * scaled, axis=axis)
        self.absolute = self.absolute * rescale + np.sum(scaled, axis=axis)
        self.shift = np.where(finite, new_shift, -np.inf)

    def log(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return self.shift + np.log(np.maximum(self.signed, 0.0))

    def ratio(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.signed > 0, self.absolute / self.signed, np.inf)


class ExactEngine:
    """Exact posteriors of every condition for a :class:`NoisyOrNetwork`.

    Parameters
    ----------
    network
        The network; its arrays are read once and kept in log form.
    """

    def __init__(self, network: NoisyOrNetwork):
        self.network = network
        with np.errstate(divide="ignore"):
            self._log_keep_condition = np.log1p(-network.condition_leak)
            self._log_keep_risk = tuple(np.log1p(-r) for r in network.risk)
            self._log_a = np.log1p(-network.finding_leak)
            self._log_b = np.maximum(np.log1p(-network.link), LOG_ZERO)
        self._log_context_prior = tuple(network.context_prior)
        self._context_used = tuple(
            k for k in range(len(network.context)) if any(k in parents for parents in network.risk_parents)
        )

    # ------------------------------------------------------------------ public
    def query(self, evidence: EncodedEvidence) -> Answer:
        """P(condition present | evidence) for every condition, and log P(evidence)."""
        log_const, log_pi, log_p0 = self._context(evidence)
        log_const_f, log_u, expanded = self._findings(evidence)
        mu = evidence.conditions
        if not np.isfinite(log_const + log_const_f) or log_pi.size == 0:
            return Answer(-np.inf, np.full(len(self.network.conditions), np.nan))
        p0 = np.exp(log_p0)
        p1 = -np.expm1(log_p0)
        log_z, log_n = self._solve(mu, expanded, log_pi, p0, p1, log_u)
        log_evidence = float(log_z + log_const + log_const_f)
        if not np.isfinite(log_evidence):
            return Answer(-np.inf, np.full(len(self.network.conditions), np.nan))
        posterior = np.clip(np.exp(log_n - log_z), 0.0, 1.0)
        return Answer(log_evidence, posterior)

    def query_batch(self, batch: EvidenceBatch) -> tuple[np.ndarray, np.ndarray]:
        """log P(evidence) ``(N,)`` and P(condition present | evidence) ``(N, n)`` for N cases.

        A case with impossible evidence gets ``-inf`` and a row of NaN.
        """
        log_evidence = np.empty(len(batch))
        posterior = np.empty((len(batch), len(self.network.conditions)))
        for i in range(len(batch)):
            answer = self.query(batch.case(i))
            log_evidence[i], posterior[i] = answer.log_evidence, answer.posterior
        return log_evidence, posterior

    # ------------------------------------------------------------------ context
    def _context(self, evidence: EncodedEvidence) -> tuple[float, np.ndarray, np.ndarray]:
        """log of the weight of unused context, and per configuration log pi(c) and log P(absent | c)."""
        net = self.network
        log_const = 0.0
        weights = []
        for k, (prior, lik) in enumerate(zip(net.context_prior, evidence.context)):
            w = prior * lik
            if k not in self._context_used:
                total = w.sum()
                log_const += np.log(total) if total > 0 else -np.inf
            else:
                weights.append(w)
        used = self._context_used
        states = [np.flatnonzero(w > 0) for w in weights]
        if any(s.size == 0 for s in states):
            return -np.inf, np.zeros(0), np.zeros((0, len(net.conditions)))
        grid = np.array(list(itertools.product(*states)), dtype=int).reshape(-1, len(used))
        log_pi = np.zeros(len(grid))
        log_p0 = np.tile(self._log_keep_condition, (len(grid), 1))
        for col, k in enumerate(used):
            log_pi += np.log(weights[col][grid[:, col]])
            log_p0 += self._log_keep_risk[k][:, grid[:, col]].T
        return log_const, log_pi, log_p0

    # ------------------------------------------------------------------ findings
    def _findings(self, evidence: EncodedEvidence):
        lam0, lam1 = evidence.findings[:, 0], evidence.findings[:, 1]
        c0, c1 = lam1, lam0 - lam1
        informative = c1 != 0
        absorbed = informative & (c0 == 0)
        expanded = np.flatnonzero(informative & (c0 > 0))
        with np.errstate(divide="ignore"):
            log_const = float(np.sum(np.log(c0[~informative])) + np.sum(np.log(c1[absorbed]) + self._log_a[absorbed]))
        log_u = self._log_b[absorbed].sum(axis=0)
        return log_const, log_u, (expanded, c0[expanded], c1[expanded])

    # ------------------------------------------------------------------ the recursion
    def _solve(self, mu, expanded, log_pi, p0, p1, log_u):
        """log Z and log N_j (joint with d_j present) under condition likelihoods ``mu``."""
        index, c0, c1 = expanded
        fixed = (mu[:, 0] == 0) | (mu[:, 1] == 0)
        present = mu[:, 0] == 0
        log_b = self._log_b[index]
        causes = log_b < 0
        resolved = ~np.any(causes & ~fixed, axis=1)
        log_const = 0.0
        if np.any(resolved):
            log_b_res = np.where(present, log_b[resolved], 0.0).sum(axis=1) + self._log_a[index[resolved]]
            # c0 + c1 B = lam1 (1 - B) + lam0 B: two non-negative terms, 1 - B taken by expm1
            lam1, lam0 = c0[resolved], c0[resolved] + c1[resolved]
            factor = lam1 * -np.expm1(log_b_res) + lam0 * np.exp(log_b_res)
            if np.any(factor <= 0):
                n = len(self.network.conditions)
                return -np.inf, np.full(n, -np.inf)
            log_const = float(np.sum(np.log(factor)))
            keep = ~resolved
            index, c0, c1, log_b, causes = index[keep], c0[keep], c1[keep], log_b[keep], causes[keep]
        cost = (1 << len(index)) * len(log_pi) * len(mu)
        if cost <= MAX_EXPANSION:
            log_z, log_n, ratio = self._expand(mu, index, c0, c1, log_b, log_pi, p0, p1, log_u)
            negative = c1 < 0
            if not negative.any() or ratio <= MAX_CANCELLATION:
                return log_z + log_const, log_n + log_const
        # condition on the free condition that causes the most positive findings (every expanded
        # finding left has a free cause, or it would have been resolved above)
        weight = np.where(causes & (c1 < 0)[:, None], -log_b, 0.0)
        score = causes[c1 < 0].sum(axis=0) * 1e6 + weight.sum(axis=0) + causes.sum(axis=0) * 1e-3
        score = np.where(fixed | ~causes.any(axis=0), -np.inf, score)
        j = int(np.argmax(score))
        out_z, out_n = [], []
        for state in (0, 1):
            branch = mu.copy()
            branch[j, 1 - state] = 0.0
            if branch[j, state] == 0:
                continue
            z, n_ = self._solve(branch, (index, c0, c1), log_pi, p0, p1, log_u)
            out_z.append(z)
            out_n.append(n_)
        return np.logaddexp.reduce(out_z) + log_const, np.logaddexp.reduce(out_n, axis=0) + log_const

    def _expand(self, mu, index, c0, c1, log_b, log_pi, p0, p1, log_u):
        """Quickscore over all subsets of the expanded findings, in chunks of subsets."""
        n = len(mu)
        e = len(index)
        h0 = mu[:, 0] * p0                                   # (C, n)
        h1 = mu[:, 1] * p1 * np.exp(log_u)                    # (C, n)
        with np.errstate(divide="ignore"):
            log_c0, log_c1 = np.log(c0), np.log(np.abs(c1)) + self._log_a[index]
        z, num = _Sum(), _Sum((n,))
        total = 1 << e
        chunk = max(1, CHUNK_ELEMENTS // max(1, len(log_pi) * n))
        bits = 1 << np.arange(e)
        for start in range(0, total, chunk):
            subsets = ((np.arange(start, min(total, start + chunk))[:, None] & bits) > 0).astype(float)  # (K, e)
            log_w = subsets @ log_b if e else np.zeros((len(subsets), n))                           # (K, n)
            log_coef = subsets @ (log_c1 - log_c0) + log_c0.sum()                                 # (K,)
            sign = np.where((subsets @ (c1 < 0)) % 2 == 1, -1.0, 1.0)                              # (K,)
            w = np.exp(log_w)[:, None, :]                                                          # (K, 1, n)
            g1 = h1[None] * w                                                                      # (K, C, n)
            g = h0[None] + g1
            with np.errstate(divide="ignore"):
                log_g, log_g1 = np.log(g), np.log(g1)
            base = log_coef[:, None] + log_pi[None, :]                                             # (K, C)
            log_t = base + log_g.sum(axis=2)                                                       # (K, C)
            signs = np.broadcast_to(sign[:, None], log_t.shape)
            z.add(log_t, signs, axis=(0, 1))
            log_tj = np.where(g > 0, log_t[:, :, None] - log_g + log_g1, -np.inf)                  # (K, C, n)
            num.add(log_tj, signs[:, :, None], axis=(0, 1))
        ratio = float(z.ratio())
        return float(z.log()), num.log(), ratio


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
    """log P(evidence) ``(B,)`` and P(condition present | evidence) ``(B, n)`` for every parameter set."""
    log_evidence = np.empty(batch.size)
    posterior = np.empty((batch.size, len(network.conditions)))
    for b in range(batch.size):
        answer = ExactEngine(batch.network(network, b)).query(evidence)
        log_evidence[b], posterior[b] = answer.log_evidence, answer.posterior
    return log_evidence, posterior
