"""Evidence derived from other evidence: a subset of its items, a condition clamped, a finding set.

Explanation and value-of-information queries ask many questions about variations of one piece of
evidence. These helpers build those variations directly from the encoded likelihood vectors, so
nothing is re-parsed, and :func:`query_all` sends them to the engine as one batch.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bayesnet.inference.engine import ExactEngine
from bayesnet.inference.evidence import EncodedEvidence, EvidenceBatch, encode_evidence
from bayesnet.knowledge.network import NoisyOrNetwork

__all__ = ["EvidenceEditor", "query_all"]


class EvidenceEditor:
    """Build variations of one encoded piece of evidence.

    Each variation is encoded afresh from the evidence items, so the population's condition and the
    rows of ordered findings are applied to it as to any evidence.

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
        cidx = {c: j for j, c in enumerate(network.conditions)}
        self._condition = [cidx.get(node) for node, _ in evidence.items]

    @property
    def nodes(self) -> tuple[str, ...]:
        """The observed nodes, in the order of the evidence items."""
        return tuple(node for node, _ in self.evidence.items)

    def observed_conditions(self) -> np.ndarray:
        """Indices of conditions that are themselves part of the evidence."""
        return np.array([j for j in self._condition if j is not None], dtype=int)

    def subset(self, keep: Sequence[int], clamp: tuple[int, int] | None = None) -> EncodedEvidence:
        """The evidence items at positions ``keep`` only, optionally with condition ``j`` set to state ``s``.

        ``clamp=(j, s)`` adds hard evidence ``condition j = s`` (0 absent, 1 present).
        """
        encoded = encode_evidence(self.network, dict(self.evidence.items[p] for p in keep))
        if clamp is None:
            return encoded
        j, state = clamp
        conditions = encoded.conditions.copy()
        conditions[j] = conditions[j] * (np.arange(2) == state)
        return EncodedEvidence(encoded.context, conditions, encoded.findings, encoded.items, encoded.alternatives)

    def with_finding(self, finding: str, state: str) -> EncodedEvidence:
        """All the evidence, plus hard evidence ``finding = state``."""
        return encode_evidence(self.network, {**dict(self.evidence.items), finding: state})


def query_all(engine: ExactEngine, cases: Sequence[EncodedEvidence]) -> tuple[np.ndarray, np.ndarray]:
    """log P(evidence) ``(N,)`` and posteriors ``(N, n)`` for each case, as one batch.

    Impossible cases get ``-inf`` and a row of NaN. Cases whose soft evidence expands into
    alternatives are answered one by one.
    """
    if not cases:
        return np.zeros(0), np.zeros((0, len(engine.network.conditions)))
    plain = [c for c in cases if not c.alternatives]
    if len(plain) == len(cases):
        return engine.query_batch(EvidenceBatch.stack(list(cases)))
    answers = [engine.query(c) for c in cases]
    return np.array([a.log_evidence for a in answers]), np.stack([a.posterior for a in answers])
