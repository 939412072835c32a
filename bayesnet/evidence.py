"""Turn a user's evidence mapping into likelihood vectors, naming any bad input.

Evidence maps a node name to

* a state name (hard evidence: ``"present"``),
* a likelihood vector, one non-negative number per state in the node's state order
  (soft evidence: ``[0.2, 0.8]``), or a mapping ``{state: likelihood}`` naming every state,
* ``None``: the node is not observed (useful when evidence comes from a table with gaps).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from .errors import EvidenceError, UnknownNameError, shown
from .network import NoisyOrNetwork

__all__ = ["EvidenceValue", "Evidence", "EncodedEvidence", "EvidenceBatch", "encode_evidence", "describe", "parse_evidence"]

EvidenceValue = Union[str, Sequence[float], Mapping[str, float], None]
Evidence = Mapping[str, EvidenceValue]


@dataclass(frozen=True, eq=False)
class EncodedEvidence:
    """Evidence as one likelihood vector per node (all ones where a node is unobserved)."""

    context: tuple[np.ndarray, ...]
    conditions: np.ndarray
    findings: np.ndarray
    items: tuple[tuple[str, EvidenceValue], ...]

    @property
    def is_empty(self) -> bool:
        return not self.items


def describe(node: str, value: EvidenceValue) -> str:
    """``node=state`` for hard evidence, ``node~[...]`` for a likelihood."""
    if isinstance(value, str):
        return f"{node}={value}"
    if isinstance(value, Mapping):
        return f"{node}~{{{', '.join(f'{k}: {float(v):g}' for k, v in value.items())}}}"
    return f"{node}~[{', '.join(f'{float(v):g}' for v in value)}]"  # type: ignore[union-attr]


def _likelihood(node: str, states: tuple[str, ...], value: EvidenceValue) -> np.ndarray:
    if isinstance(value, str):
        if value not in states:
            raise UnknownNameError(f"state of {node}", value, states)
        return (np.asarray(states) == value).astype(float)
    if isinstance(value, Mapping):
        unknown = [s for s in value if s not in states]
        if unknown:
            raise UnknownNameError(f"state of {node}", str(unknown[0]), states)
        missing = [s for s in states if s not in value]
        if missing:
            raise EvidenceError(f"soft evidence on {node} must give a likelihood for every state "
                                f"({', '.join(states)}); missing {', '.join(missing)}")
        value = [value[s] for s in states]
    try:
        vector = np.asarray(value, dtype=float)
    except OverflowError:
        raise EvidenceError(f"soft evidence on {node} must be finite and non-negative, got a number too large "
                            f"for a float: {shown(value)}") from None
    except (TypeError, ValueError):
        raise EvidenceError(f"evidence on {node} must be a state ({', '.join(states)}) or a likelihood "
                            f"vector of {len(states)} numbers, got {shown(value)}") from None
    if vector.ndim != 1:
        raise EvidenceError(f"evidence on {node} must be a state ({', '.join(states)}) or a likelihood "
                            f"vector of {len(states)} numbers, got {value!r}")
    if vector.shape != (len(states),):
        raise EvidenceError(f"soft evidence on {node} must have {len(states)} numbers "
                            f"(one per state: {', '.join(states)}), got {vector.tolist()!r}")
    if not np.all(np.isfinite(vector)) or np.any(vector < 0):
        raise EvidenceError(f"soft evidence on {node} must be finite and non-negative, got {vector.tolist()!r}")
    if not np.any(vector > 0):
        raise EvidenceError(f"soft evidence on {node} is zero for every state, so it is impossible: {vector.tolist()!r}")
    # only ratios matter: scaled to a largest entry of 1, so no huge or subnormal entry reaches the engine;
    # a ratio below the smallest normal float would lose its precision (or underflow to 0), so it is refused
    scaled = vector / vector.max()
    if np.any((scaled < np.finfo(float).tiny) & (vector > 0)):
        raise EvidenceError(f"soft evidence on {node} spans too wide a range: a non-zero likelihood below 2.2e-308 "
                            f"times the largest cannot be computed with, got {shown(vector.tolist())}; "
                            "give 0 for a state that is ruled out")
    return scaled


def encode_evidence(network: NoisyOrNetwork, evidence: Evidence | None) -> EncodedEvidence:
    """Check ``evidence`` against ``network`` and encode it as likelihood vectors.

    Raises
    ------
    UnknownNameError
        A node or state the network does not have (with close matches suggested).
    EvidenceError
        A malformed likelihood vector or evidence that is not a mapping.
    """
    if evidence is None:
        evidence = {}
    if not isinstance(evidence, Mapping):
        raise EvidenceError(f"evidence must be a mapping from node to state, got {type(evidence).__name__}")
    context = [np.ones(len(s)) for s in network.context_states]
    conditions = np.ones((len(network.conditions), 2))
    findings = np.ones((len(network.findings), 2))
    kidx = {k: a for a, k in enumerate(network.context)}
    cidx = {c: j for j, c in enumerate(network.conditions)}
    fidx = {f: i for i, f in enumerate(network.findings)}
    items: list[tuple[str, EvidenceValue]] = []
    for node, value in evidence.items():
        if not isinstance(node, str):
            raise EvidenceError(f"evidence keys must be node names, got {node!r}")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if node not in kidx and node not in cidx and node not in fidx:
                raise UnknownNameError("node", node, [*network.context, *network.conditions, *network.findings])
            continue
        if node in kidx:
            context[kidx[node]] = _likelihood(node, network.context_states[kidx[node]], value)
        elif node in cidx:
            conditions[cidx[node]] = _likelihood(node, ("absent", "present"), value)
        elif node in fidx:
            findings[fidx[node]] = _likelihood(node, ("absent", "present"), value)
        else:
            raise UnknownNameError("node", node, [*network.context, *network.conditions, *network.findings])
        items.append((node, value))
    return EncodedEvidence(tuple(context), conditions, findings, tuple(items))


@dataclass(frozen=True, eq=False)
class EvidenceBatch:
    """Evidence for N cases as likelihood arrays with a leading case axis.

    ``context[k]`` is ``(N, states_k)``, ``conditions`` ``(N, n, 2)``, ``findings`` ``(N, m, 2)``;
    all ones where a node is unobserved.
    """

    context: tuple[np.ndarray, ...]
    conditions: np.ndarray
    findings: np.ndarray

    def __len__(self) -> int:
        return int(self.conditions.shape[0])

    @classmethod
    def stack(cls, cases: Sequence[EncodedEvidence]) -> EvidenceBatch:
        if not cases:
            raise EvidenceError("a batch needs at least one case")
        return cls(tuple(np.stack([c.context[k] for c in cases]) for k in range(len(cases[0].context))),
                   np.stack([c.conditions for c in cases]), np.stack([c.findings for c in cases]))

    def case(self, i: int) -> EncodedEvidence:
        """Case ``i`` as single-case evidence (without the item list used for messages)."""
        return EncodedEvidence(tuple(c[i] for c in self.context), self.conditions[i], self.findings[i], ())


def parse_evidence(tokens: Sequence[str] | str) -> dict[str, EvidenceValue]:
    """Parse ``node=state`` and ``node=0.2,0.8`` items (a list, or one string separated by spaces).

    Raises
    ------
    EvidenceError
        For an item that is not ``node=value``, a malformed likelihood, or a node given twice.
    """
    if isinstance(tokens, str):
        tokens = tokens.split()
    evidence: dict[str, EvidenceValue] = {}
    for token in tokens:
        node, sep, value = token.partition("=")
        node, value = node.strip(), value.strip()
        if not sep or not node or not value:
            raise EvidenceError(f"evidence must be written node=state or node=0.2,0.8 (one number per state), got {token!r}")
        if node in evidence:
            raise EvidenceError(f"{node} is given twice: {node}={evidence[node]} and {token}")
        if value[0].isdigit() or value[0] == ".":
            try:
                evidence[node] = [float(v) for v in value.split(",")]
            except ValueError:
                raise EvidenceError(f"soft evidence must be numbers separated by commas, got {token!r}") from None
        else:
            evidence[node] = value
    return evidence
