"""How the context nodes enter the conditions: a hub enumerated jointly, satellites summed one by one.

Given the context, the conditions of a :class:`~bayesnet.knowledge.network.NoisyOrNetwork` are independent.
Summing over every joint context configuration is exact but costs the product of all context
cardinalities. The knowledge base is sparser than that: a condition depends on the age band and at
most one history node. So the context nodes are split once, when the engine is built:

* the *hub*: a smallest set (by the number of joint configurations) such that every condition has
  at most one context parent outside it; its configurations are enumerated;
* the *satellites*: the other context nodes that some condition depends on. Given a hub
  configuration each satellite touches only its own *group* of conditions, so the sum over its
  states is taken group by group (a star-shaped sum), never jointly with the other satellites;
* the *unused* context nodes, which no condition depends on: a constant factor.

Any network structure is handled exactly: in the worst case the hub is every context node (plain
enumeration of the joint configurations).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bayesnet.knowledge.network import NoisyOrNetwork

__all__ = ["ContextStructure", "context_structure", "log_absent_table"]

#: above this many context parents in use the hub is chosen greedily rather than by search
EXHAUSTIVE_LIMIT = 16


@dataclass(frozen=True, eq=False)
class ContextStructure:
    """The split of the context nodes into hub, satellites and unused nodes.

    Attributes
    ----------
    hub
        Context node indices enumerated jointly.
    hub_states
        ``(A, len(hub))``: the state of each hub node in each hub configuration.
    satellites
        Context node indices summed group by group.
    group
        ``(n,)``: for each condition the position of its satellite in ``satellites``, or -1.
    unused
        Context node indices that no condition depends on.
    width
        The largest number of states of a satellite (1 if there is none).
    cards
        The number of states of every context node.

    Context likelihoods are often handled as one concatenated vector of all context states
    (``offsets`` give where each node starts; one extra entry at the end stands for an impossible
    state and pads the satellites to ``width``).
    """

    hub: tuple[int, ...]
    hub_states: np.ndarray
    satellites: tuple[int, ...]
    group: np.ndarray
    unused: tuple[int, ...]
    width: int
    cards: tuple[int, ...]

    @property
    def hub_size(self) -> int:
        return int(self.hub_states.shape[0])

    @cached_property
    def offsets(self) -> np.ndarray:
        """Where each context node's states start in the concatenated vector (and its length)."""
        return np.concatenate([[0], np.cumsum(self.cards)]).astype(int)

    @cached_property
    def hub_index(self) -> np.ndarray:
        """``(A, len(hub))``: positions in the concatenated vector of each hub configuration's states."""
        return self.offsets[list(self.hub)][None, :] + self.hub_states

    @cached_property
    def hub_strides(self) -> np.ndarray:
        """Multipliers turning the hub nodes' states into the index of their configuration."""
        cards = [self.cards[k] for k in self.hub]
        return np.array([int(np.prod(cards[c + 1:])) for c in range(len(cards))], dtype=int)

    @cached_property
    def membership(self) -> np.ndarray:
        """``(n, G)``: 1 where a condition belongs to a satellite's group."""
        return (self.group[:, None] == np.arange(len(self.satellites))[None, :]).astype(float)

    @cached_property
    def satellite_index(self) -> np.ndarray:
        """``(G, width)``: positions of each satellite's states, padded with the impossible entry."""
        pad = int(self.offsets[-1])
        index = np.full((len(self.satellites), self.width), pad)
        for g, k in enumerate(self.satellites):
            index[g, :self.cards[k]] = self.offsets[k] + np.arange(self.cards[k])
        return index


def context_structure(network: NoisyOrNetwork) -> ContextStructure:
    """Choose the hub of ``network``'s context (see the module docstring)."""
    cards = [len(s) for s in network.context_states]
    parents = [set(p) for p in network.risk_parents]
    used = sorted(set().union(*parents)) if parents else []
    multi = [p for p in parents if len(p) > 1]

    def covers(hub: set[int]) -> bool:
        return all(len(p - hub) <= 1 for p in multi)

    def size(hub) -> int:
        return int(np.prod([cards[k] for k in hub])) if hub else 1

    candidates = sorted({k for p in multi for k in p})
    best: set[int] | None = None
    if len(candidates) <= EXHAUSTIVE_LIMIT:
        for r in range(len(candidates) + 1):
            for hub in itertools.combinations(candidates, r):
                if covers(set(hub)) and (best is None or size(hub) < size(best)):
                    best = set(hub)
    else:  # greedy: repeatedly take the node shared by most conditions still uncovered
        best = set()
        while not covers(best):
            count = {k: sum(k in p - best for p in multi if len(p - best) > 1) for k in candidates}
            best.add(max(count, key=lambda k: (count[k], -cards[k])))
    hub = tuple(sorted(best or ()))
    satellites = tuple(k for k in used if k not in hub)
    group = np.full(len(network.conditions), -1)
    for j, p in enumerate(parents):
        rest = p - set(hub)
        if rest:
            group[j] = satellites.index(rest.pop())
    configurations = list(itertools.product(*(range(cards[k]) for k in hub)))
    hub_states = np.array(configurations, dtype=int).reshape(len(configurations), len(hub))
    return ContextStructure(
        hub=hub,
        hub_states=hub_states,
        satellites=satellites,
        group=group,
        unused=tuple(k for k in range(len(cards)) if k not in used),
        width=max([cards[k] for k in satellites], default=1),
        cards=tuple(cards),
    )


def log_absent_table(structure: ContextStructure, condition_leak: np.ndarray,
                     risk: tuple[np.ndarray, ...]) -> np.ndarray:
    """log P(condition absent | hub configuration, satellite state), shape ``(..., A, n, width)``.

    ``condition_leak`` is ``(..., n)`` and ``risk[k]`` is ``(..., n, states_k)``; leading axes (a
    batch of parameter sets) are kept. For a condition without a satellite the last axis repeats;
    for a satellite with fewer states than ``width`` the extra entries repeat its first state
    (they are given zero weight when summed).
    """
    with np.errstate(divide="ignore"):
        table = np.log1p(-np.asarray(condition_leak, float))[..., None, :, None]      # (..., 1, n, 1)
        for col, k in enumerate(structure.hub):
            keep = np.log1p(-np.asarray(risk[k], float))                               # (..., n, S_k)
            table = table + np.moveaxis(keep[..., structure.hub_states[:, col]], -1, -2)[..., None]
        n = table.shape[-2]
        satellite = np.zeros(table.shape[:-3] + (1, n, structure.width))
        for g, k in enumerate(structure.satellites):
            members = np.flatnonzero(structure.group == g)
            keep = np.log1p(-np.asarray(risk[k], float))                                # (..., n, S_k)
            states = np.arange(structure.width)
            states = np.where(states < keep.shape[-1], states, 0)
            satellite = np.broadcast_to(satellite, np.broadcast_shapes(satellite.shape, keep.shape[:-2] + (1, n, structure.width))).copy()
            satellite[..., 0, members, :] = keep[..., members, :][..., states]
    return table + satellite
