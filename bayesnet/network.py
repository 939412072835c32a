"""The numeric form of the network: a leaky noisy-OR network over context, conditions and findings.

A :class:`NoisyOrNetwork` holds the network's native parameters as numpy arrays:

* context node ``k``: a prior vector over its states;
* condition ``j``: a leak ``l_j`` and, for each context node ``k``, link probabilities ``q[k][j, s]``
  that state ``s`` of ``k`` alone causes the condition; ``P(absent | c) = (1 - l_j) prod_k (1 - q[k][j, c_k])``;
* finding ``i``: a leak ``L_i`` and links ``p[i, j]``; ``P(absent | d) = (1 - L_i) prod_j (1 - p[i, j])^d_j``.

It is what the inference engine reads, and it expands into the full conditional probability tables
that pgmpy and brute-force enumeration use.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .knowledge import BINARY, KnowledgeBase, Parameter

__all__ = ["NoisyOrNetwork", "ParameterLocation", "compile_knowledge", "link_from_value"]

COLUMN_TOLERANCE = 1e-9


def link_from_value(value: float | np.ndarray, leak: float | np.ndarray) -> float | np.ndarray:
    """The noisy-OR link ``p`` for which P(effect | this cause alone) equals ``value`` given ``leak``."""
    return 1.0 - (1.0 - value) / (1.0 - leak)


@dataclass(frozen=True)
class ParameterLocation:
    """Where a knowledge-base parameter sits in the network's arrays.

    ``array`` is one of ``context_prior``, ``condition_leak``, ``risk``, ``finding_leak``, ``link``;
    ``index`` indexes that array (for ``context_prior`` and ``risk`` the first entry picks the
    context node).
    """

    array: str
    index: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class NoisyOrNetwork:
    """A three-layer leaky noisy-OR network: context roots, conditions, findings."""

    context: tuple[str, ...]
    context_states: tuple[tuple[str, ...], ...]
    context_prior: tuple[np.ndarray, ...]
    conditions: tuple[str, ...]
    condition_leak: np.ndarray
    risk: tuple[np.ndarray, ...]
    risk_parents: tuple[tuple[int, ...], ...]
    findings: tuple[str, ...]
    finding_leak: np.ndarray
    link: np.ndarray
    finding_parents: tuple[tuple[int, ...], ...]
    _check: bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        if not self._check:
            return
        n, m = len(self.conditions), len(self.findings)
        if self.condition_leak.shape != (n,) or self.finding_leak.shape != (m,) or self.link.shape != (m, n):
            raise ValueError("network arrays do not match the numbers of conditions and findings")
        for k, (prior, risk) in enumerate(zip(self.context_prior, self.risk)):
            if prior.shape != (len(self.context_states[k]),) or risk.shape != (n, len(self.context_states[k])):
                raise ValueError(f"context node {self.context[k]}: arrays do not match its states")
            if abs(prior.sum() - 1.0) > COLUMN_TOLERANCE:
                raise ValueError(f"context node {self.context[k]}: prior sums to {prior.sum()!r}, expected 1")

    # ----------------------------------------------------------------- construction from arrays
    @classmethod
    def from_arrays(cls, *, context: dict[str, tuple[list[str], np.ndarray]], conditions: list[str],
                    condition_leak: np.ndarray, risk: dict[str, np.ndarray], findings: list[str],
                    finding_leak: np.ndarray, link: np.ndarray) -> NoisyOrNetwork:
        """Build a network from arrays; parents are the nonzero links (used for random test networks)."""
        names = list(context)
        risk_arrays = tuple(np.asarray(risk.get(k, np.zeros((len(conditions), len(context[k][0])))), float) for k in names)
        link = np.asarray(link, float)
        return cls(
            context=tuple(names),
            context_states=tuple(tuple(context[k][0]) for k in names),
            context_prior=tuple(np.asarray(context[k][1], float) for k in names),
            conditions=tuple(conditions),
            condition_leak=np.asarray(condition_leak, float),
            risk=risk_arrays,
            risk_parents=tuple(tuple(k for k, r in enumerate(risk_arrays) if np.any(r[j] > 0)) for j in range(len(conditions))),
            findings=tuple(findings),
            finding_leak=np.asarray(finding_leak, float),
            link=link,
            finding_parents=tuple(tuple(np.flatnonzero(link[i] > 0)) for i in range(len(findings))),
        )

    # ----------------------------------------------------------------------- tables
    def condition_table(self, j: int) -> np.ndarray:
        """P(condition j | its context parents): shape ``(2, *parent cards)``, axis 0 absent/present."""
        parents = self.risk_parents[j]
        log_absent = np.full([len(self.context_states[k]) for k in parents], np.log1p(-self.condition_leak[j]))
        for axis, k in enumerate(parents):
            shape = [1] * len(parents)
            shape[axis] = -1
            log_absent = log_absent + _log1m(self.risk[k][j]).reshape(shape)
        return _binary_table(log_absent)

    def finding_table(self, i: int) -> np.ndarray:
        """P(finding i | its condition parents): shape ``(2, 2, ..., 2)``, axis 0 absent/present."""
        parents = self.finding_parents[i]
        log_absent = np.full([2] * len(parents), np.log1p(-self.finding_leak[i]))
        for axis, j in enumerate(parents):
            shape = [1] * len(parents)
            shape[axis] = 2
            log_absent = log_absent + np.array([0.0, _log1m(self.link[i, j])]).reshape(shape)
        return _binary_table(log_absent)

    def states(self, name: str) -> tuple[str, ...]:
        if name in self.context:
            return self.context_states[self.context.index(name)]
        return BINARY

    def with_parameters(self, **arrays: object) -> NoisyOrNetwork:
        """A copy with some arrays replaced (``condition_leak=...``, ``link=...``, ...)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "_check"}
        values.update(arrays)
        return NoisyOrNetwork(**values)  # type: ignore[arg-type]


def _log1m(x: np.ndarray | float) -> np.ndarray:
    """log(1 - x), with log(0) = -inf and no warning."""
    with np.errstate(divide="ignore"):
        return np.log1p(-np.asarray(x, dtype=float))


def _binary_table(log_absent: np.ndarray) -> np.ndarray:
    """Stack P(absent) and P(present) from log P(absent), each accurate to the last digit."""
    table = np.stack([np.exp(log_absent), -np.expm1(log_absent)])
    if not np.all(np.abs(table.sum(axis=0) - 1.0) <= COLUMN_TOLERANCE) or np.any(table < 0):
        raise ValueError("a conditional probability table has a column that is not a distribution")
    return table


def compile_knowledge(kb: KnowledgeBase) -> tuple[NoisyOrNetwork, tuple[ParameterLocation, ...]]:
    """Turn validated knowledge into a :class:`NoisyOrNetwork` and each parameter's location in it.

    Values written as P(effect | this cause alone) become links ``p = 1 - (1 - value) / (1 - leak)``.
    """
    context = kb.names("context")
    conditions = kb.names("condition")
    findings = kb.names("finding")
    states = {name: kb.node(name).states for name in context}
    cidx = {c: j for j, c in enumerate(conditions)}
    fidx = {f: i for i, f in enumerate(findings)}
    kidx = {k: a for a, k in enumerate(context)}

    priors = [np.zeros(len(states[k])) for k in context]
    condition_leak = np.zeros(len(conditions))
    finding_leak = np.zeros(len(findings))
    risk = [np.zeros((len(conditions), len(states[k]))) for k in context]
    link = np.zeros((len(findings), len(conditions)))
    risk_parents: list[set[int]] = [set() for _ in conditions]
    finding_parents: list[set[int]] = [set() for _ in findings]
    locations: list[ParameterLocation] = []

    leaks = {p.node: p.value for p in kb.parameters if p.role in ("condition_leak", "finding_leak")}
    for p in kb.parameters:
        locations.append(_place(p, kidx, cidx, fidx, states))
        if p.role == "context_prior":
            k = kidx[p.node]
            s = states[p.node].index(p.state)  # type: ignore[arg-type]
            priors[k][s] = p.value
            if states[p.node] == BINARY:
                priors[k][0] = 1.0 - p.value
        elif p.role == "condition_leak":
            condition_leak[cidx[p.node]] = p.value
        elif p.role == "finding_leak":
            finding_leak[fidx[p.node]] = p.value
        elif p.role == "risk_factor":
            ctx, state = p.parent.split("=")  # type: ignore[union-attr]
            j, k = cidx[p.node], kidx[ctx]
            risk[k][j, states[ctx].index(state)] = link_from_value(p.value, leaks[p.node])
            risk_parents[j].add(k)
        else:
            i, j = fidx[p.node], cidx[p.parent]  # type: ignore[index]
            link[i, j] = link_from_value(p.value, leaks[p.node])
            finding_parents[i].add(j)
    network = NoisyOrNetwork(
        context=context,
        context_states=tuple(states[k] for k in context),
        context_prior=tuple(priors),
        conditions=conditions,
        condition_leak=condition_leak,
        risk=tuple(risk),
        risk_parents=tuple(tuple(sorted(s)) for s in risk_parents),
        findings=findings,
        finding_leak=finding_leak,
        link=link,
        finding_parents=tuple(tuple(sorted(s)) for s in finding_parents),
    )
    return network, tuple(locations)


def _place(p: Parameter, kidx: dict[str, int], cidx: dict[str, int], fidx: dict[str, int],
           states: dict[str, tuple[str, ...]]) -> ParameterLocation:
    if p.role == "context_prior":
        return ParameterLocation("context_prior", (kidx[p.node], states[p.node].index(p.state)))  # type: ignore[arg-type]
    if p.role == "condition_leak":
        return ParameterLocation("condition_leak", (cidx[p.node],))
    if p.role == "finding_leak":
        return ParameterLocation("finding_leak", (fidx[p.node],))
    if p.role == "risk_factor":
        ctx, state = p.parent.split("=")  # type: ignore[union-attr]
        return ParameterLocation("risk", (kidx[ctx], cidx[p.node], states[ctx].index(state)))
    return ParameterLocation("link", (fidx[p.node], cidx[p.parent]))  # type: ignore[index]
