"""The numeric form of the network: leaky noisy-OR and noisy-MAX tables over context, conditions and findings.

A :class:`NoisyOrNetwork` holds the network's native parameters as numpy arrays:

* context node ``k``: a prior vector over its states;
* condition ``j``: a leak ``l_j`` and, for each context node ``k``, link probabilities ``q[k][j, s]``
  that state ``s`` of ``k`` alone causes the condition; ``P(absent | c) = (1 - l_j) prod_k (1 - q[k][j, c_k])``;
* binary finding ``i``: a leak ``L_i`` and links ``p[i, j]``; ``P(absent | d) = (1 - L_i) prod_j (1 - p[i, j])^d_j``;
* ordered finding ``o`` (states ``0 < 1 < ... < K-1``): a leaky noisy-MAX. The leak has a distribution
  ``L`` over the states and each condition ``j`` its own distribution ``c_j`` (what it produces alone,
  leak aside); the finding is the largest of them, so with cumulative sums ``L(<= s)``, ``C_j(<= s)``:
  ``P(Y <= s | d) = L(<= s) prod_j C_j(<= s)^d_j`` (Diez 1993).

The inference engine reads only binary noisy-OR rows. An ordered finding enters it as rows of that
kind, exactly: ``[Y >= s]`` is a noisy-OR with inhibitors ``C_j(<= s-1)``, and ``Y = s`` for a middle
state is ``[Y >= s+1]`` absent together with a row *step s* present, whose inhibitors are
``C_j(<= s-1) / C_j(<= s)``, since ``P(Y = s) = P(Y <= s) (1 - P(Y <= s-1) / P(Y <= s))``.

The population (:data:`~bayesnet.knowledge.base.PRESENTING`) is that every patient has at least one
presenting finding present. With the presenting findings independent noisy-ORs given the
conditions, "at least one of a set S present" is itself a noisy-OR row with inhibitors
``prod_{f in S} (1 - p_fj)``; the network holds one such row for each set of two or more.

The rows that the engine reads but no user names (steps, thresholds, population rows) are *derived*:
:func:`derive_rows` recomputes them from the native numbers, for one network or a batch.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import itertools

import numpy as np

from bayesnet.knowledge.base import BINARY, KnowledgeBase, Parameter

__all__ = ["NoisyOrNetwork", "OrderedFinding", "ParameterLocation", "compile_knowledge", "link_from_value",
           "derive_rows", "ordered_rows"]

COLUMN_TOLERANCE = 1e-9
#: a cause's cumulative probability that rises by less than this from one state to the next does not rise
SNAP = 1e-12


def link_from_value(value: float | np.ndarray, leak: float | np.ndarray) -> float | np.ndarray:
    """The noisy-OR link ``p`` for which P(effect | this cause alone) equals ``value`` given ``leak``."""
    return 1.0 - (1.0 - value) / (1.0 - leak)


@dataclass(frozen=True)
class ParameterLocation:
    """Where a knowledge-base parameter sits in the network's arrays.

    ``array`` is one of ``context_prior``, ``condition_leak``, ``risk``, ``finding_leak``, ``link``,
    ``ordered_leak`` (index: ordered finding, state) or ``ordered_link`` (ordered finding, condition,
    state); ``index`` indexes that array (for ``context_prior`` and ``risk`` the first entry picks
    the context node).
    """

    array: str
    index: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class OrderedFinding:
    """A finding with ordered states and a leaky noisy-MAX table (see the module docstring).

    ``leak`` is ``(K,)``: P(state) with no condition present; ``cause`` is ``(n, K)``: each
    condition's own distribution (``[1, 0, ..., 0]`` for a condition that is not a parent). A
    parent's record for a state gives P(state | this cause alone), leak included; a state it has no
    record for stays at the leak's probability.
    ``above[s - 1]`` is the engine row ``[Y >= s]`` (s = 1 .. K-1); ``step[s - 1]`` the engine row of
    middle state ``s`` (s = 1 .. K-2).
    """

    name: str
    states: tuple[str, ...]
    parents: tuple[int, ...]
    leak: np.ndarray
    cause: np.ndarray
    above: tuple[int, ...]
    step: tuple[int, ...]
    #: ``(n, K)``: the states above the lowest for which a cause has a record; a parent's other
    #: states are at the leak's level (no effect on that state)
    given: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))

    def rows(self, state: int) -> tuple[tuple[int, int], ...]:
        """The engine rows and their states (0 absent, 1 present) that say ``Y = state``."""
        last = len(self.states) - 1
        if state == 0:
            return ((self.above[0], 0),)
        if state == last:
            return ((self.above[last - 1], 1),)
        return ((self.above[state], 0), (self.step[state - 1], 1))

    def table(self) -> np.ndarray:
        """P(Y | its parents): shape ``(K, 2, ..., 2)``, computed directly from the noisy-MAX."""
        K = len(self.states)
        cdf = np.ones([K] + [2] * len(self.parents))
        cdf[:-1] = np.cumsum(self.leak)[:-1].reshape([K - 1] + [1] * len(self.parents))
        for axis, j in enumerate(self.parents):
            shape = [K - 1] + [1] * len(self.parents)
            shape[axis + 1] = 2
            factor = np.stack([np.ones(K - 1), np.cumsum(self.cause[j])[:-1]], axis=-1).reshape(shape)
            cdf[:-1] = cdf[:-1] * factor
        table = np.diff(cdf, axis=0, prepend=0.0)
        if not np.all(np.abs(table.sum(axis=0) - 1.0) <= COLUMN_TOLERANCE) or np.any(table < -1e-15):
            raise ValueError(f"the noisy-MAX table of {self.name} has a column that is not a distribution")
        return np.maximum(table, 0.0)


def ordered_rows(leak: np.ndarray, cause: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The engine rows of a noisy-MAX: leaks and links of ``[Y >= s]`` and of the middle steps.

    ``leak`` is ``(..., K)`` and ``cause`` ``(..., n, K)``; returns ``above_leak (..., K-1)``,
    ``above_link (..., K-1, n)``, ``step_leak (..., K-2)``, ``step_link (..., K-2, n)``. A step's
    inhibitor ``C(<= s-1) / C(<= s)`` is taken as 1 where ``C(<= s) = 0``: such a cause is then
    excluded by ``[Y >= s+1]`` absent, which every observation of a middle state includes.
    """
    leak_cdf = np.cumsum(leak, axis=-1)[..., :-1]                               # (..., K-1)
    cause_cdf = np.moveaxis(np.cumsum(cause, axis=-1)[..., :-1], -1, -2)        # (..., K-1, n)
    above_leak = 1.0 - leak_cdf
    above_link = 1.0 - cause_cdf
    with np.errstate(divide="ignore", invalid="ignore"):
        step_leak = 1.0 - leak_cdf[..., :-1] / leak_cdf[..., 1:]
        ratio = cause_cdf[..., :-1, :] / cause_cdf[..., 1:, :]
    step_link = 1.0 - np.where(cause_cdf[..., 1:, :] > 0, ratio, 1.0)
    return (np.clip(above_leak, 0.0, 1.0), np.clip(above_link, 0.0, 1.0),
            np.clip(step_leak, 0.0, 1.0), np.clip(step_link, 0.0, 1.0))


def derive_rows(network: NoisyOrNetwork, link: np.ndarray, finding_leak: np.ndarray,
                ordered: Sequence[tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """In place: recompute the derived engine rows of ``link`` ``(..., m, n)`` and ``finding_leak``
    ``(..., m)`` from the native numbers: the ordered findings' ``(leak, cause)`` pairs (default: the
    network's own) and the presenting rows already in ``link`` and ``finding_leak``."""
    for o, finding in enumerate(network.ordered):
        leak, cause = (finding.leak, finding.cause) if ordered is None else ordered[o]
        above_leak, above_link, step_leak, step_link = ordered_rows(leak, cause)
        finding_leak[..., list(finding.above)] = above_leak
        link[..., list(finding.above), :] = above_link
        if finding.step:
            finding_leak[..., list(finding.step)] = step_leak
            link[..., list(finding.step), :] = step_link
    for members, row in network.population:
        keep_leak = np.prod(1.0 - finding_leak[..., list(members)], axis=-1)
        keep_link = np.prod(1.0 - link[..., list(members), :], axis=-2)
        finding_leak[..., row] = 1.0 - keep_leak
        link[..., row, :] = 1.0 - keep_link


@dataclass(frozen=True, eq=False)
class NoisyOrNetwork:
    """A three-layer leaky noisy-OR network: context roots, conditions, findings.

    ``findings`` are the engine's binary rows: first the binary findings, then the derived rows of
    the ordered findings and of the population (see the module docstring). ``observable`` lists
    the findings a user names, binary and ordered, in vocabulary order.
    """

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
    observable: tuple[str, ...] = ()
    ordered: tuple[OrderedFinding, ...] = ()
    presenting: tuple[int, ...] = ()
    population: tuple[tuple[tuple[int, ...], int], ...] = ()
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
                    finding_leak: np.ndarray, link: np.ndarray,
                    ordered: Sequence[tuple[str, Sequence[str], np.ndarray, np.ndarray]] = (),
                    presenting: Sequence[str] = ()) -> NoisyOrNetwork:
        """Build a network from arrays; parents are the nonzero links (used for random test networks).

        ``findings``, ``finding_leak`` and ``link`` are the binary findings; ``ordered`` lists
        ``(name, states, leak (K,), cause (n, K))``, a cause being a parent where its own
        distribution is not ``[1, 0, ..., 0]``; ``presenting`` names binary findings.
        """
        names = list(context)
        risk_arrays = tuple(np.asarray(risk.get(k, np.zeros((len(conditions), len(context[k][0])))), float) for k in names)
        link = np.asarray(link, float)
        ordered_findings = [(name, tuple(states), np.asarray(leak, float), np.asarray(cause, float),
                             tuple(int(j) for j in np.flatnonzero(np.asarray(cause)[:, 0] < 1.0)))
                            for name, states, leak, cause in ordered]
        return _assemble(
            context=tuple(names),
            context_states=tuple(tuple(context[k][0]) for k in names),
            context_prior=tuple(np.asarray(context[k][1], float) for k in names),
            conditions=tuple(conditions),
            condition_leak=np.asarray(condition_leak, float),
            risk=risk_arrays,
            risk_parents=tuple(tuple(k for k, r in enumerate(risk_arrays) if np.any(r[j] > 0)) for j in range(len(conditions))),
            binary=tuple(findings), binary_leak=np.asarray(finding_leak, float), binary_link=link,
            binary_parents=tuple(tuple(int(j) for j in np.flatnonzero(link[i] > 0)) for i in range(len(findings))),
            ordered=ordered_findings, presenting=tuple(presenting),
            vocabulary=tuple(findings) + tuple(name for name, *_ in ordered),
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
        kind, where = self.lookup.get(name, (None, None))
        if kind == "context":
            return self.context_states[where]  # type: ignore[index]
        if kind == "ordered":
            return where.states  # type: ignore[union-attr]
        return BINARY

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """The findings a user names (binary and ordered), in vocabulary order."""
        return self.observable or self.findings

    @cached_property
    def binary_count(self) -> int:
        """The number of binary findings: the engine rows before the derived ones."""
        derived = sum(len(o.above) + len(o.step) for o in self.ordered) + len(self.population)
        return len(self.findings) - derived

    def ordered_finding(self, name: str) -> OrderedFinding | None:
        kind, where = self.lookup.get(name, (None, None))
        return where if kind == "ordered" else None  # type: ignore[return-value]

    @cached_property
    def lookup(self) -> dict[str, tuple[str, object]]:
        """Every name a user can give evidence on: ``(kind, index or ordered finding)``, kind one of
        ``context``, ``condition``, ``finding`` (a binary finding's engine row) or ``ordered``."""
        table: dict[str, tuple[str, object]] = {}
        table.update((k, ("context", a)) for a, k in enumerate(self.context))
        table.update((c, ("condition", j)) for j, c in enumerate(self.conditions))
        table.update((f, ("finding", i)) for i, f in enumerate(self.findings[:self.binary_count]))
        table.update((o.name, ("ordered", o)) for o in self.ordered)
        return table

    @cached_property
    def blank_evidence(self) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
        """Likelihoods of no evidence (all ones), read-only: context vectors, conditions, engine rows."""
        def frozen(array: np.ndarray) -> np.ndarray:
            array.flags.writeable = False
            return array
        return (tuple(frozen(np.ones(len(s))) for s in self.context_states), frozen(np.ones((len(self.conditions), 2))),
                frozen(np.ones((len(self.findings), 2))))

    @cached_property
    def population_rows(self) -> dict[tuple[int, ...], int]:
        """The population row of each set of two or more presenting findings."""
        return dict(self.population)

    def with_parameters(self, **arrays: object) -> NoisyOrNetwork:
        """A copy with some arrays replaced (``condition_leak=...``, ``link=...``, ...)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "_check"}
        values.update(arrays)
        return NoisyOrNetwork(**values)  # type: ignore[arg-type]

    def with_ordered(self, ordered: Sequence[tuple[np.ndarray, np.ndarray]]) -> NoisyOrNetwork:
        """A copy whose ordered findings have other ``(leak, cause)`` numbers (derived rows follow)."""
        findings = tuple(replace(o, leak=np.asarray(leak, float), cause=np.asarray(cause, float))
                         for o, (leak, cause) in zip(self.ordered, ordered))
        link, finding_leak = self.link.copy(), self.finding_leak.copy()
        network = self.with_parameters(ordered=findings)
        derive_rows(network, link, finding_leak)
        return network.with_parameters(link=link, finding_leak=finding_leak)


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

    Values written as P(effect | this cause alone) become links ``p = 1 - (1 - value) / (1 - leak)``;
    for an ordered finding, cumulative ``C_j(<= s) = T_j(<= s) / L(<= s)`` from the cause-alone
    distribution ``T_j`` and the leak's ``L``.
    """
    context = kb.names("context")
    conditions = kb.names("condition")
    vocabulary = kb.names("finding")
    specs = {n.name: n for n in kb.nodes}
    binary = tuple(f for f in vocabulary if not specs[f].ordered)
    ordered_names = tuple(f for f in vocabulary if specs[f].ordered)
    states = {name: kb.node(name).states for name in context}
    cidx = {c: j for j, c in enumerate(conditions)}
    fidx = {f: i for i, f in enumerate(binary)}
    oidx = {f: o for o, f in enumerate(ordered_names)}
    kidx = {k: a for a, k in enumerate(context)}
    n = len(conditions)

    priors = [np.zeros(len(states[k])) for k in context]
    condition_leak = np.zeros(n)
    finding_leak = np.zeros(len(binary))
    risk = [np.zeros((n, len(states[k]))) for k in context]
    link = np.zeros((len(binary), n))
    risk_parents: list[set[int]] = [set() for _ in conditions]
    finding_parents: list[set[int]] = [set() for _ in binary]
    ordered_leak = [np.zeros(len(specs[f].states)) for f in ordered_names]
    ordered_alone = [np.zeros((n, len(specs[f].states))) for f in ordered_names]
    ordered_given = [np.zeros((n, len(specs[f].states)), dtype=bool) for f in ordered_names]
    locations: list[ParameterLocation] = []

    leaks = {p.node: p.value for p in kb.parameters if p.role in ("condition_leak", "finding_leak") and p.state is None}
    for p in kb.parameters:
        locations.append(_place(p, kidx, cidx, fidx, oidx, states, specs))
        if p.role == "context_prior":
            k = kidx[p.node]
            s = states[p.node].index(p.state)  # type: ignore[arg-type]
            priors[k][s] = p.value
            if states[p.node] == BINARY:
                priors[k][0] = 1.0 - p.value
        elif p.role == "condition_leak":
            condition_leak[cidx[p.node]] = p.value
        elif p.role == "risk_factor":
            ctx, state = p.parent.split("=")  # type: ignore[union-attr]
            j, k = cidx[p.node], kidx[ctx]
            risk[k][j, states[ctx].index(state)] = link_from_value(p.value, leaks[p.node])
            risk_parents[j].add(k)
        elif p.node in oidx:
            o, s = oidx[p.node], specs[p.node].states.index(p.state)  # type: ignore[arg-type]
            if p.role == "finding_leak":
                ordered_leak[o][s] = p.value
            else:
                ordered_alone[o][cidx[p.parent], s] = p.value  # type: ignore[index]
                ordered_given[o][cidx[p.parent], s] = True  # type: ignore[index]
        elif p.role == "finding_leak":
            finding_leak[fidx[p.node]] = p.value
        else:
            i, j = fidx[p.node], cidx[p.parent]  # type: ignore[index]
            link[i, j] = link_from_value(p.value, leaks[p.node])
            finding_parents[i].add(j)

    ordered = []
    for o, name in enumerate(ordered_names):
        leak = complete_distribution(ordered_leak[o])
        given = ordered_given[o]
        parents = tuple(int(j) for j in np.flatnonzero(given.any(axis=1)))
        alone = complete_distribution(np.where(given, ordered_alone[o], leak[None, :]) * given.any(axis=1)[:, None])
        ordered.append((name, specs[name].states, leak, cause_from_alone(alone, leak), parents, given))
    network = _assemble(
        context=context,
        context_states=tuple(states[k] for k in context),
        context_prior=tuple(priors),
        conditions=conditions,
        condition_leak=condition_leak,
        risk=tuple(risk),
        risk_parents=tuple(tuple(sorted(s)) for s in risk_parents),
        binary=binary, binary_leak=finding_leak, binary_link=link,
        binary_parents=tuple(tuple(sorted(s)) for s in finding_parents),
        ordered=ordered, presenting=tuple(f for f in binary if specs[f].presenting), vocabulary=vocabulary,
    )
    return network, tuple(locations)


def _assemble(*, binary: tuple[str, ...], binary_leak: np.ndarray, binary_link: np.ndarray,
              binary_parents: tuple[tuple[int, ...], ...],
              ordered: Sequence[tuple],
              presenting: tuple[str, ...], vocabulary: tuple[str, ...], **arrays) -> NoisyOrNetwork:
    """Lay out the engine rows (binary findings, each ordered finding's thresholds and steps, the
    population rows) and build the network with its derived rows filled in."""
    rows = list(binary)
    findings = []
    for name, states, leak, cause, parents, *given in ordered:
        K = len(states)
        above = tuple(range(len(rows), len(rows) + K - 1))
        rows += [f"{name}>={s}" for s in states[1:]]
        step = tuple(range(len(rows), len(rows) + K - 2))
        rows += [f"{name}={s}|<={s}" for s in states[1:-1]]
        mask = given[0] if given else np.zeros(cause.shape, dtype=bool)
        if not given:
            mask[list(parents), 1:] = True
        findings.append(OrderedFinding(name, tuple(states), parents, leak, cause, above, step, mask))
    index = {f: i for i, f in enumerate(binary)}
    presenting_rows = tuple(index[f] for f in presenting)
    population = []
    for size in range(2, len(presenting_rows) + 1):
        for members in itertools.combinations(presenting_rows, size):
            population.append((members, len(rows)))
            rows.append("population:" + "|".join(binary[i] for i in members))
    n = binary_link.shape[1]
    link = np.zeros((len(rows), n))
    link[:len(binary)] = binary_link
    finding_leak = np.zeros(len(rows))
    finding_leak[:len(binary)] = binary_leak
    parents = [set(p) for p in binary_parents] + [set() for _ in range(len(rows) - len(binary))]
    for finding in findings:
        for row in finding.above + finding.step:
            parents[row].update(finding.parents)
    for members, row in population:
        parents[row].update(*(parents[i] for i in members))
    network = NoisyOrNetwork(**arrays, findings=tuple(rows), finding_leak=finding_leak, link=link,
                             finding_parents=tuple(tuple(sorted(p)) for p in parents), observable=vocabulary,
                             ordered=tuple(findings), presenting=presenting_rows, population=tuple(population))
    derive_rows(network, network.link, network.finding_leak)
    return network


def complete_distribution(upper: np.ndarray) -> np.ndarray:
    """A distribution from its entries above the lowest state (the lowest is the complement)."""
    out = np.asarray(upper, float).copy()
    out[..., 0] = 1.0 - out[..., 1:].sum(axis=-1)
    return out


def cause_from_alone(alone: np.ndarray, leak: np.ndarray) -> np.ndarray:
    """Each cause's own noisy-MAX distribution from P(state | this cause alone), leak included.

    ``C(<= s) = T(<= s) / L(<= s)``; ``alone`` is ``(..., n, K)`` and ``leak`` ``(..., K)``. A row
    of ``alone`` equal to ``[1, 0, ..., 0]`` is read as "not a cause" and gives ``[1, 0, ..., 0]``.
    Cumulative values are clipped to ``[0, 1]`` and made non-decreasing, so that a drawn value that
    breaks the noisy-MAX constraint still gives a distribution.
    """
    leak_cdf = np.cumsum(leak, axis=-1)[..., None, :]
    alone_cdf = np.cumsum(alone, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cdf = np.clip(np.where(leak_cdf > 0, alone_cdf / leak_cdf, 1.0), 0.0, 1.0)
    cdf[..., -1] = 1.0
    cdf = np.maximum.accumulate(cdf, axis=-1)
    # a rise below rounding is none: the cause puts nothing on that state (an exact zero keeps the
    # table's structure, which the engine's work depends on)
    cdf = np.where(1.0 - cdf < SNAP, 1.0, cdf)
    for s in range(1, cdf.shape[-1] - 1):
        cdf[..., s] = np.where(cdf[..., s] - cdf[..., s - 1] < SNAP, cdf[..., s - 1], cdf[..., s])
    unused = alone[..., 0] == 1.0
    cdf[unused] = 1.0
    return np.diff(cdf, axis=-1, prepend=0.0)


def alone_from_cause(cause: np.ndarray, leak: np.ndarray) -> np.ndarray:
    """P(state | this cause alone), leak included: ``T(<= s) = L(<= s) C(<= s)`` (inverse of :func:`cause_from_alone`)."""
    cdf = np.cumsum(leak, axis=-1)[..., None, :] * np.cumsum(cause, axis=-1)
    return np.diff(cdf, axis=-1, prepend=0.0)


def _place(p: Parameter, kidx: dict[str, int], cidx: dict[str, int], fidx: dict[str, int], oidx: dict[str, int],
           states: dict[str, tuple[str, ...]], specs: dict) -> ParameterLocation:
    if p.role == "context_prior":
        return ParameterLocation("context_prior", (kidx[p.node], states[p.node].index(p.state)))  # type: ignore[arg-type]
    if p.role == "condition_leak":
        return ParameterLocation("condition_leak", (cidx[p.node],))
    if p.node in oidx:
        state = specs[p.node].states.index(p.state)
        if p.role == "finding_leak":
            return ParameterLocation("ordered_leak", (oidx[p.node], state))
        return ParameterLocation("ordered_link", (oidx[p.node], cidx[p.parent], state))  # type: ignore[index]
    if p.role == "finding_leak":
        return ParameterLocation("finding_leak", (fidx[p.node],))
    if p.role == "risk_factor":
        ctx, state = p.parent.split("=")  # type: ignore[union-attr]
        return ParameterLocation("risk", (kidx[ctx], cidx[p.node], states[ctx].index(state)))
    return ParameterLocation("link", (fidx[p.node], cidx[p.parent]))  # type: ignore[index]
