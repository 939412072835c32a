"""Turn a user's evidence mapping into likelihood vectors, naming any bad input.

Evidence maps a node name to

* a state name (hard evidence: ``"present"``),
* a set of states, written ``"a,b"`` (the node is in one of these states) or ``"!a"`` / ``"!a,b"``
  (in none of them): a fact that narrows a node without naming its state, such as a connective
  tissue disease whose type is not given (``connective_tissue_disease="!none"``),
* a likelihood vector, one non-negative number per state in the node's state order
  (soft evidence: ``[0.2, 0.8]``), or a mapping ``{state: likelihood}`` naming every state,
* ``None``: the node is not observed (useful when evidence comes from a table with gaps).
"""
from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from bayesnet.errors import EvidenceError, UnknownNameError, shown
from bayesnet.knowledge.network import NoisyOrNetwork

__all__ = ["EvidenceValue", "Evidence", "EncodedEvidence", "EvidenceBatch", "encode_evidence", "describe", "parse_evidence",
           "likelihood", "apply_population", "is_state_set"]

EvidenceValue = Union[str, Sequence[float], Mapping[str, float], None]
Evidence = Mapping[str, EvidenceValue]


#: the most hard alternatives that soft evidence on ordered or presenting findings may expand into
MAX_ALTERNATIVES = 4096


@dataclass(frozen=True, eq=False)
class EncodedEvidence:
    """Evidence as likelihood vectors on the engine's nodes (all ones where a node is unobserved).

    ``findings`` holds one row per engine row of the network (binary findings and the rows derived
    from ordered findings and the population), with the population's condition applied. Soft
    evidence on an ordered or a presenting finding is not a product over engine rows; it is a
    weighted sum of hard alternatives: ``alternatives`` then lists ``(weight, findings)`` pairs, and
    P(evidence) is the weighted sum of their probabilities (``findings`` is the first of them).
    ``implied`` names the presenting finding the population put the mineral in because the evidence
    observed every other one absent (``"mineral_lung=present"``), else ``None``.
    """

    context: tuple[np.ndarray, ...]
    conditions: np.ndarray
    findings: np.ndarray
    items: tuple[tuple[str, EvidenceValue], ...]
    alternatives: tuple[tuple[float, np.ndarray], ...] = ()
    implied: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.items

    def observed_rows(self) -> np.ndarray:
        """``(m,)``: engine rows whose likelihood is informative in some alternative."""
        arrays = [a for _, a in self.alternatives] or [self.findings]
        return np.any([a[:, 0] != a[:, 1] for a in arrays], axis=0)

    def with_findings(self, findings: np.ndarray) -> EncodedEvidence:
        return EncodedEvidence(self.context, self.conditions, findings, self.items)


def describe(node: str, value: EvidenceValue) -> str:
    """``node=state`` for hard evidence (``node!=a,b`` for a set it is not in), ``node~[...]`` for a likelihood."""
    if isinstance(value, str):
        return f"{node}!={value[1:]}" if value.startswith("!") else f"{node}={value}"
    if isinstance(value, Mapping):
        return f"{node}~{{{', '.join(f'{k}: {float(v):g}' for k, v in value.items())}}}"
    return f"{node}~[{', '.join(f'{float(v):g}' for v in value)}]"  # type: ignore[union-attr]


@functools.lru_cache(maxsize=None)
def _one_hot(states: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read-only hard-evidence vectors for each state of a state list."""
    table = {}
    for i, state in enumerate(states):
        vector = np.zeros(len(states))
        vector[i] = 1.0
        vector.flags.writeable = False
        table[state] = vector
    return table


def likelihood(node: str, states: tuple[str, ...], value: EvidenceValue) -> np.ndarray:
    """The likelihood vector over ``states`` that evidence ``value`` on ``node`` stands for (checked)."""
    if isinstance(value, str):
        vector = _one_hot(states).get(value)
        return _state_set(node, states, value) if vector is None else vector
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


def is_state_set(value: str) -> bool:
    """Whether ``value`` is written as a set of states (``"a,b"`` or ``"!a"``) rather than one state."""
    return value.startswith("!") or "," in value


def _state_set(node: str, states: tuple[str, ...], value: str) -> np.ndarray:
    """The likelihood of ``"a,b"`` (one of these states) or ``"!a,b"`` (none of them) on ``node``."""
    if not is_state_set(value):
        raise UnknownNameError(f"state of {node}", value, states)
    negate = value.startswith("!")
    names = [name.strip() for name in (value[1:] if negate else value).split(",")]
    for name in names:
        if name not in states:
            raise UnknownNameError(f"state of {node}", name, states)
    vector = np.isin(np.array(states), names).astype(float)
    if negate:
        vector = 1.0 - vector
    if not vector.any():
        raise EvidenceError(f"evidence {describe(node, value)} rules out every state of {node} "
                            f"({', '.join(states)}), so it is impossible")
    return vector


def encode_evidence(network: NoisyOrNetwork, evidence: Evidence | None, *, population: bool = True) -> EncodedEvidence:
    """Check ``evidence`` against ``network`` and encode it as likelihood vectors.

    With ``population=False`` the population's condition (some presenting finding present) is not
    applied: the evidence is then about the care setting as a whole, before the presenting finding.

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
    blank = network.blank_evidence
    context = list(blank[0])                      # read-only ones; an observed node gets its own vector
    conditions = blank[1].copy()
    findings = blank[2].copy()
    lookup = network.lookup
    items: list[tuple[str, EvidenceValue]] = []
    choices: list[list[tuple[float, tuple[tuple[int, int], ...]]]] = []   # soft evidence: weighted hard rows
    for node, value in evidence.items():
        if not isinstance(node, str):
            raise EvidenceError(f"evidence keys must be node names, got {node!r}")
        kind, where = lookup.get(node, (None, None))
        if kind is None:
            raise UnknownNameError("node", node, [*network.context, *network.conditions, *network.vocabulary])
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if kind == "context":
            context[where] = likelihood(node, network.context_states[where], value)
        elif kind == "condition":
            conditions[where] = likelihood(node, ("absent", "present"), value)
        elif kind == "ordered":
            finding = where
            vector = likelihood(node, finding.states, value)
            states = np.flatnonzero(vector)
            if len(states) == 1:
                _set_rows(findings, finding.rows(int(states[0])))
            else:
                choices.append([(float(vector[s]), finding.rows(int(s))) for s in states])
        else:
            i = where
            vector = likelihood(node, ("absent", "present"), value)
            if population and i in network.presenting and vector[0] != vector[1] and np.all(vector > 0):
                choices.append([(float(vector[0]), ((i, 0),)), (float(vector[1]), ((i, 1),))])
            else:
                findings[i] = vector
        items.append((node, value))
    population = population and bool(network.presenting)
    if not choices:
        implied = _apply_population_one(network, findings) if population else None
        return EncodedEvidence(tuple(context), conditions, findings, tuple(items), implied=_implied_name(network, {implied}))
    count = math.prod(len(c) for c in choices)
    if count > MAX_ALTERNATIVES:
        raise EvidenceError(f"soft evidence on ordered or presenting findings expands into {count} alternatives; "
                            f"at most {MAX_ALTERNATIVES} are answered (give hard states for some of them)")
    alternatives, implied = [], set()
    for combination in itertools.product(*choices):
        rows = findings.copy()
        weight = 1.0
        for w, hard in combination:
            weight *= w
            _set_rows(rows, hard)
        implied.add(_apply_population_one(network, rows) if population else None)
        alternatives.append((weight, rows))
    return EncodedEvidence(tuple(context), conditions, alternatives[0][1], tuple(items), tuple(alternatives),
                           implied=_implied_name(network, implied))


def _implied_name(network: NoisyOrNetwork, rows: set[int | None]) -> str | None:
    """``"finding=present"`` when every alternative implied the same presenting row, else ``None``."""
    row = next(iter(rows)) if len(rows) == 1 else None
    return None if row is None else f"{network.findings[row]}=present"


def _apply_population_one(network: NoisyOrNetwork, findings: np.ndarray) -> int | None:
    """:func:`apply_population` for one case ``(m, 2)``. Returns the presenting row it set present
    because the evidence observed every other presenting finding absent, else ``None``."""
    open_ = []
    for i in network.presenting:
        lam0, lam1 = findings[i]
        if lam0 == 0 and lam1 > 0:
            return None
        if lam0 == lam1:
            open_.append(i)
    if not open_:
        findings[network.presenting[0]] = 0.0
    elif len(open_) == 1:
        findings[open_[0], 0] = 0.0
        return open_[0] if len(network.presenting) > 1 else None
    else:
        findings[network.population_rows[tuple(open_)]] = (0.0, 1.0)
    return None


def _set_rows(findings: np.ndarray, rows: tuple[tuple[int, int], ...]) -> None:
    """Hard evidence ``row = state`` on engine rows (multiplied in, so contradictions stay visible)."""
    for row, state in rows:
        findings[row] = findings[row] * (np.arange(2) == state)


def apply_population(network: NoisyOrNetwork, findings: np.ndarray) -> None:
    """In place, for a batch ``(N, m, 2)``: every patient has at least one presenting finding present.

    A row with a presenting finding observed present needs nothing more. Otherwise, of the
    presenting findings not observed (equal likelihoods), one must be present: that finding's row,
    or the population row of that set, is set to present. With every presenting finding observed
    absent the evidence is impossible, and the first one's likelihood becomes zero.
    """
    presenting = list(network.presenting)
    if not presenting:
        return
    if findings.shape[0] == 1:                                                # one case: no array bookkeeping
        _apply_population_one(network, findings[0])
        return
    lam = findings[:, presenting, :]                                          # (N, P, 2)
    present = (lam[..., 0] == 0) & (lam[..., 1] > 0)
    open_ = lam[..., 0] == lam[..., 1]
    rows_of = network.population_rows
    need = ~present.any(axis=1)
    code = open_ @ (1 << np.arange(len(presenting)))                          # which ones are open, as bits
    for mask in np.unique(code[need]):
        rows = np.flatnonzero(need & (code == mask))
        members = tuple(presenting[p] for p in range(len(presenting)) if mask >> p & 1)
        if not members:
            findings[rows, presenting[0]] = 0.0
        elif len(members) == 1:
            findings[rows, members[0]] = findings[rows, members[0]] * np.array([0.0, 1.0])
        else:
            findings[rows, rows_of[members]] = [0.0, 1.0]


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
    """Parse ``node=state``, ``node=a,b`` (one of these states), ``node!=a`` or ``node!=a,b`` (none of
    them) and ``node=0.2,0.8`` (a likelihood per state) items (a list, or one string separated by spaces).

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
        negate = node.endswith("!")
        node = node[:-1].strip() if negate else node
        if not sep or not node or not value:
            raise EvidenceError("evidence must be written node=state, node=a,b (one of these states), node!=a "
                                f"(not this state) or node=0.2,0.8 (one number per state), got {token!r}")
        if node in evidence:
            raise EvidenceError(f"{node} is given twice: {node}={evidence[node]} and {token}")
        if negate:
            evidence[node] = "!" + value
        elif value[0].isdigit() or value[0] == ".":
            try:
                evidence[node] = [float(v) for v in value.split(",")]
            except ValueError:
                raise EvidenceError(f"soft evidence must be numbers separated by commas, got {token!r}") from None
        else:
            evidence[node] = value
    return evidence

