"""Evidence derived from other evidence: a subset of its items, a condition clamped, a finding set.

Explanation and value-of-information queries ask many questions about variations of one piece of
evidence. These helpers build those variations directly from the encoded likelihood vectors, so
nothing is re-parsed, and :func:`query_all` sends them to the engine as one batch.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .engine import ExactEngine
from .evidence import EncodedEvidence, EvidenceBatch
from .network import NoisyOrNetwork

__all__ = ["EvidenceEditor", "query_all"]


class EvidenceEditor:
    """Build variations of one encoded piece of evidence.

    Parameters
    ----------
    network
        The network the evidence was encoded for.
    evidence
        The encoded evidence; its ``items`` give the order of :meth:`subset`'s indices.
    """

    def __init__(self, network: NoisyOrNetwork, evidence: EncodedEvidence):
        self.network = network
        self.evidence = evidence
        kidx = {k: a for a, k in enumerate(network.context)}
        cidx = {c: j for j, c in enumerate(network.conditions)}
        fidx = {f: i for i, f in enumerate(network.findings)}
        self._where: list[tuple[str, int]] = []
        for node, _ in evidence.items:
            if node in kidx:
                self._where.append(("context", kidx[node]))
            elif node in cidx:
                self._where.append(("condition", cidx[node]))
            else:
                self._where.append(("finding", fidx[node]))

    @property
    def nodes(self) -> tuple[str, ...]:
        """The observed nodes, in the order of the evidence items."""
        return tuple(node for node, _ in self.evidence.items)

    def observed_conditions(self) -> np.ndarray:
        """Indices of conditions that are themselves part of the evidence."""
        return np.array([i for kind, i in self._where if kind == "condition"], dtype=int)

    def subset(self, keep: Sequence[int], clamp: tuple[int, int] | None = None) -> EncodedEvidence:
        """The evidence items at positions ``keep`` only, optionally with condition ``j`` set to state ``s``.

        ``clamp=(j, s)`` adds hard evidence ``condition j = s`` (0 absent, 1 present).
        """
        net, full = self.network, self.evidence
        context = [np.ones(len(s)) for s in net.context_states]
        conditions = np.ones((len(net.conditions), 2))
        findings = np.ones((len(net.findings), 2))
        for position in keep:
            kind, i = self._where[position]
            if kind == "context":
                context[i] = full.context[i]
            elif kind == "condition":
                conditions[i] = full.conditions[i]
            else:
                findings[i] = full.findings[i]
        if clamp is not None:
            j, state = clamp
            conditions[j] = conditions[j] * (np.arange(2) == state)
        items = tuple(full.items[p] for p in keep)
        return EncodedEvidence(tuple(context), conditions, findings, items)

    def with_finding(self, finding: int, state: int) -> EncodedEvidence:
        """All the evidence, plus hard evidence ``finding = state`` (0 absent, 1 present)."""
        full = self.evidence
        findings = full.findings.copy()
        findings[finding] = np.arange(2) == state
        return EncodedEvidence(full.context, full.conditions, findings, full.items)


def query_all(engine: ExactEngine, cases: Sequence[EncodedEvidence]) -> tuple[np.ndarray, np.ndarray]:
    """log P(evidence) ``(N,)`` and posteriors ``(N, n)`` for each case, as one batch.

    Impossible cases get ``-inf`` and a row of NaN.
    """
    if not cases:
        return np.zeros(0), np.zeros((0, len(engine.network.conditions)))
    return engine.query_batch(EvidenceBatch.stack(list(cases)))
