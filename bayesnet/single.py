"""The engine's fast path for one evidence set: the same exact method with as few array operations as possible.

A single query on the real network is a few dozen small array operations, so their number, not
their size, sets the time. This path precomputes every table that does not depend on evidence,
works without a batch axis, and sums the positive and soft findings with
:func:`~bayesnet.sweep.focused_sweep` after expanding the satellite groups that touch them into the
hub axis. It handles the usual case; anything unusual (a certain link or risk, a condition impossible
in some context, too many expanded configurations) makes it return ``None`` and the general,
vectorised path (:func:`bayesnet.engine._evaluate`) answers instead. Both are exact; the tests hold
both to brute-force enumeration.
"""
from __future__ import annotations

import numpy as np

from .context import ContextStructure
from .evidence import EncodedEvidence
from .focused import NeedsGeneralPath, solve

__all__ = ["SingleQuery"]

#: the fast path expands satellite groups into the hub axis up to this many configurations
EXPAND_LIMIT = 256
#: stands for log(0) inside matrix products (0 * -inf would be NaN); sums below LOG_ZERO / 10
#: are read back as -inf
LOG_ZERO = -1e300


class SingleQuery:
    """Precomputed tables and the fast path for one network's single queries.

    Parameters
    ----------
    structure
        The network's context split.
    prior
        ``(T + 1,)``: the concatenated context priors, then 0 (see :mod:`bayesnet.context`).
    log_absent, log_present
        ``(A, n, W)``: log P(condition absent / present | hub configuration, satellite state).
    log_a, log_b, link, leak
        The findings' numbers: ``(m,)``, ``(m, n)`` (floored at ``LOG_ZERO``), ``(m, n)``, ``(m,)``.
    """

    def __init__(self, structure: ContextStructure, prior: np.ndarray, log_absent: np.ndarray,
                 log_present: np.ndarray, log_a: np.ndarray, log_b: np.ndarray, link: np.ndarray,
                 leak: np.ndarray):
        self.structure = s = structure
        self.prior = prior
        self.log_absent, self.log_present = log_absent, log_present
        self.log_a, self.log_b, self.link, self.leak, self.keep = log_a, log_b, link, leak, 1.0 - leak
        A, n, W = log_absent.shape
        self.n, self.A = n, A
        self.usable = bool(np.all(np.isfinite(log_absent)) and np.all(np.isfinite(log_present)))
        self.columns = np.arange(n)
        self.group = s.group
        self.plain = s.group < 0
        self.grouped = not bool(self.plain.all())
        self.plain_index = self.plain.nonzero()[0]
        self.membership = s.membership
        self.satellite_index = s.satellite_index
        self.hub_index = s.hub_index
        self.hub_nodes = np.asarray(s.hub, dtype=int)
        self.hub_strides = s.hub_strides
        self.starts = s.offsets[:-1]
        # the context node of each entry of the concatenated context vector (the padding: none)
        self.node_of = np.append(np.repeat(np.arange(len(s.cards)), s.cards), -1)
        self.nodes = np.arange(len(s.cards))
        self.no_group = np.full(n, -1)
        self.sizes = tuple(s.cards[k] for k in s.satellites)
        # the context node whose state sets each condition's satellite state (-1: none)
        self.satellite_node = np.where(s.group >= 0, np.asarray(s.satellites + (0,), dtype=int)[s.group], -1)
        self.unused = [(int(s.offsets[k]), int(s.offsets[k + 1])) for k in s.unused]
        # each condition's satellite group, the conditions without one pointing past the last group
        self.group_or_last = np.where(self.plain, len(self.sizes), s.group)
        self.no_units = np.full(len(self.sizes) + 1, -1)
        self._expansions: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, evidence: EncodedEvidence) -> tuple[float, np.ndarray] | None:
        """log P(evidence) and the posteriors, or ``None`` if the general path must answer."""
        if not self.usable:
            return None
        with np.errstate(all="ignore"):
            try:
                return self._query(evidence)
            except NeedsGeneralPath:
                return None

    # ------------------------------------------------------------------ the query
    def _query(self, evidence: EncodedEvidence) -> tuple[float, np.ndarray] | None:
        findings = evidence.findings
        l0, l1 = findings[:, 0], findings[:, 1]
        informative = l0 != l1
        negative = informative & (l1 == 0)
        slots = (informative & (l1 > 0)).nonzero()[0]
        log_l0 = np.log(l0)
        log_const = log_l0[~informative].sum() + (log_l0 + self.log_a)[negative].sum()
        log_u = self.log_b[negative].sum(axis=0)                                           # (n,)
        if log_u.min() < LOG_ZERO / 10:
            return None

        # ---- context
        weight = self.prior * np.concatenate(evidence.context + _PAD)
        nonzero = weight.nonzero()[0]
        known = nonzero.size == self.starts.size and bool((self.node_of[nonzero] == self.nodes).all())
        if known:
            state = nonzero - self.starts
            log_const += np.log(weight[nonzero]).sum()
            hub = int((state[self.hub_nodes] * self.hub_strides).sum())
            satellite = np.where(self.satellite_node >= 0, state[self.satellite_node], 0)
            log_absent = self.log_absent[hub, self.columns, satellite][None, :, None]     # (1, n, 1)
            log_present = self.log_present[hub, self.columns, satellite][None, :, None]
            log_hub = np.zeros(1)
            grouped = False
        else:
            log_weight = np.log(weight)
            for start, stop in self.unused:
                log_const += np.log(weight[start:stop].sum())
            log_hub = log_weight[self.hub_index].sum(axis=1) if self.hub_nodes.size else np.zeros(1)
            log_absent, log_present = self.log_absent, self.log_present                    # (A, n, W)
            grouped = self.grouped

        # ---- condition weights
        mu = evidence.conditions
        log_h1 = log_present + log_u[:, None]
        log_h0 = log_absent
        if mu.min() < 1.0:
            log_mu = np.log(mu)
            log_h0 = log_h0 + log_mu[:, 0, None]
            log_h1 = log_h1 + log_mu[:, 1, None]
        gap = log_h1 - log_h0
        small = np.exp(-np.abs(gap))
        big = 1.0 / (1.0 + small)
        small = small * big
        positive_gap = gap > 0
        q1 = np.where(positive_gap, big, small)                                              # (A, n, W)
        q0 = np.where(positive_gap, small, big)
        log_f = np.maximum(log_h0, log_h1) - np.log(big)
        if not np.isfinite(log_f).all():
            return None
        A = log_f.shape[0]
        log_total = log_hub + log_f[:, self.plain_index, 0].sum(axis=1) if grouped else log_hub + log_f[:, :, 0].sum(axis=1)
        if grouped:
            joint = (np.swapaxes(log_f, 1, 2) @ self.membership).swapaxes(1, 2) \
                + log_weight[self.satellite_index]                                            # (A, G, W)
            top = joint.max(axis=2)
            share = np.exp(joint - top[..., None])
            total = share.sum(axis=2)
            mixing = share / total[..., None]
            group_total = np.log(total) + top                                                 # (A, G)
            log_total = log_total + group_total.sum(axis=1)

        # ---- slots
        if not slots.size:
            posterior_hub = _softmax(log_total)
            log_evidence = float(_log_sum_exp(log_total)) + log_const
            if grouped:
                by_hub = (q1 * _with_plain(mixing)[:, np.where(self.plain, -1, self.group), :]).sum(axis=2)
            else:
                by_hub = q1[:, :, 0]
            return self._finish(log_evidence, posterior_hub @ by_hub, mu)
        links = self.link[slots]                                                              # (M, n)
        a0, a1 = l0[slots], l1[slots]
        final = np.empty((slots.size, 2))
        final[:, 0] = a1 * self.leak[slots] + a0 * self.keep[slots]
        final[:, 1] = a1
        top = final.max(axis=1)
        if (top != 1.0).any():
            final /= top[:, None]
            log_const += np.log(top).sum()
        if grouped:
            active = links > 0
            touches = active.sum(axis=0)
            swept = touches > 0
            slots_of_group = (active.astype(float) @ self.membership) > 0                      # (M, G)
            multi_of_group = ((touches >= 2).astype(float) @ self.membership) > 0             # (G,)
            touched = slots_of_group.any(axis=0)
            complex_ = touched & ((slots_of_group.sum(axis=0) > 1) | multi_of_group)
            simple = touched & ~complex_
            expanded = tuple(complex_.nonzero()[0].tolist())
            unit_groups = simple.nonzero()[0]
            unit_index = self.no_units.copy()
            unit_index[unit_groups] = np.arange(unit_groups.size)
            unit_group = unit_index[self.group_or_last]
            if expanded:
                hub, states, state = self._expansion(A, expanded)
                if hub.size > EXPAND_LIMIT:
                    return None
                q1e = q1[hub[:, None], self.columns, state]                                    # (A', n)
                q0e = q0[hub[:, None], self.columns, state]
                x = np.asarray(expanded)
                base = log_total[hub] - group_total[hub][:, x].sum(axis=1) + joint[hub[:, None], x, states].sum(axis=1)
                unit_q1, unit_q0 = q1[hub], q0[hub]                                            # (A', n, W)
                unit_pi = mixing[hub][:, unit_groups, :]                                       # (A', G', W)
            else:  # the configurations are the hub's own
                if A > EXPAND_LIMIT:
                    return None
                q1e, q0e = q1[:, :, 0], q0[:, :, 0]
                base = log_total
                unit_q1, unit_q0 = q1, q0
                unit_pi = mixing[:, unit_groups, :]
        else:
            q1e, q0e = q1[:, :, 0], q0[:, :, 0]
            base = log_total
            unit_group = self.no_group
            unit_q1, unit_q0 = q1, q0
            unit_pi = np.zeros((1, 0, 1))
        log_z, present, swept, satellite = solve(q0e, q1e, unit_q0, unit_q1, unit_pi, unit_group, links, final)
        log_config = base + log_z
        if log_config.size == 1:
            posterior_config = _ONE
            log_evidence = float(log_config[0]) + log_const
        else:
            top = log_config.max()
            if not top > -np.inf:
                return None
            share = np.exp(log_config - top)
            total = share.sum()
            posterior_config = share / total
            log_evidence = float(top + np.log(total)) + log_const
        by_config = np.where(swept, present, q1e)
        if grouped:
            resting = (unit_group >= 0) & ~swept
            if resting.any():
                by_config[:, resting] = (satellite[:, unit_group[resting], :] * unit_q1[:, resting, :]).sum(axis=2)
        posterior = posterior_config @ by_config
        if grouped:
            others = ~self.plain & ~touched[self.group]
            if others.any():
                posterior_hub = posterior_config.reshape(A, -1).sum(axis=1)
                mixed = (q1[:, others, :] * mixing[:, self.group[others], :]).sum(axis=2)
                posterior[others] = posterior_hub @ mixed
        return self._finish(log_evidence, posterior, mu)

    @staticmethod
    def _finish(log_evidence: float, posterior: np.ndarray, mu: np.ndarray) -> tuple[float, np.ndarray] | None:
        if not (-np.inf < log_evidence < np.inf) or not np.isfinite(posterior.sum()):
            return None
        if mu.min() == 0.0:
            posterior = np.where(mu[:, 0] == 0, 1.0, np.where(mu[:, 1] == 0, 0.0, posterior))
        return log_evidence, np.minimum(np.maximum(posterior, 0.0), 1.0)

    def _expansion(self, A: int, expanded: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hub configurations extended by the states of the ``expanded`` satellites (cached)."""
        key = (A, *expanded)
        if key not in self._expansions:
            grid = np.indices((A, *[self.sizes[g] for g in expanded])).reshape(1 + len(expanded), -1)
            state = np.zeros((grid.shape[1], self.n), dtype=int)
            for x, g in enumerate(expanded):
                state[:, self.group == g] = grid[1 + x][:, None]
            self._expansions[key] = (grid[0], grid[1:].T, state)
        return self._expansions[key]


_PAD = (np.zeros(1),)
_ONE = np.ones(1)


def _softmax(x: np.ndarray) -> np.ndarray:
    share = np.exp(x - x.max())
    return share / share.sum()


def _log_sum_exp(x: np.ndarray) -> float:
    top = x.max()
    return top + np.log(np.exp(x - top).sum()) if top > -np.inf else -np.inf


def _with_plain(satellite: np.ndarray) -> np.ndarray:
    """Satellite posteriors ``(A, G, W)`` with one more group, last, certain of its first state."""
    extra = np.zeros((satellite.shape[0], 1, satellite.shape[2]))
    extra[..., 0] = 1.0
    return np.concatenate([satellite, extra], axis=1)
