"""The engine's path for one evidence set: the compiled kernel, with the network's tables laid out once.

:class:`SingleQuery` holds every table that does not depend on evidence, in the form
:func:`bayesnet.kernel.query_one` reads, and calls it. The kernel answers almost every query; when it
declines (see :mod:`bayesnet.kernel`), ``None`` tells the engine to use its general vectorised path.
"""
from __future__ import annotations

import numpy as np

from .context import ContextStructure
from .evidence import EncodedEvidence
from .kernel import ANSWERED, IMPOSSIBLE, cause_lists, query_one

__all__ = ["SingleQuery", "LOG_ZERO"]

#: stands for log(0) inside matrix products (0 * -inf would be NaN); sums below LOG_ZERO / 10
#: are read back as -inf
LOG_ZERO = -1e300


class SingleQuery:
    """The network's tables for the kernel, and the call that answers one evidence set.

    Parameters
    ----------
    structure
        The network's context split.
    prior
        ``(T + 1,)``: the concatenated context priors, then 0 (see :mod:`bayesnet.context`).
    log_absent
        ``(A, n, W)``: log P(condition absent | hub configuration, satellite state).
    link, leak
        The findings' link probabilities ``(m, n)`` and leaks ``(m,)``.
    """

    def __init__(self, structure: ContextStructure, prior: np.ndarray, log_absent: np.ndarray,
                 link: np.ndarray, leak: np.ndarray):
        s = structure
        self.n = log_absent.shape[1]
        self.tables = (
            np.ascontiguousarray(prior, dtype=float),
            np.ascontiguousarray(s.hub_index, dtype=np.int64).reshape(s.hub_size, len(s.hub)),
            np.ascontiguousarray(s.satellite_index, dtype=np.int64).reshape(len(s.satellites), s.width),
            np.array([s.cards[k] for k in s.satellites], dtype=np.int64),
            np.array([s.offsets[k] for k in s.unused], dtype=np.int64),
            np.array([s.offsets[k + 1] for k in s.unused], dtype=np.int64),
            np.ascontiguousarray(s.group, dtype=np.int64),
            np.ascontiguousarray(np.exp(log_absent)),
            np.ascontiguousarray(-np.expm1(log_absent)),
            np.ascontiguousarray(leak, dtype=float),
            *cause_lists(np.asarray(link, dtype=float)),
        )
        self._pad = np.zeros(1)

    def __call__(self, evidence: EncodedEvidence) -> tuple[float, np.ndarray] | None:
        """log P(evidence) and the posteriors, or ``None`` if the general path must answer."""
        context = np.concatenate((*evidence.context, self._pad))
        posterior = np.empty(self.n)
        status, log_evidence = query_one(*self.tables, context, evidence.conditions, evidence.findings, posterior)
        if status == ANSWERED:
            return log_evidence, posterior
        if status == IMPOSSIBLE:
            return -np.inf, np.full(self.n, np.nan)
        return None
