"""How the context nodes enter the conditions: a hub enumerated jointly, satellites summed one by one.

Given the context, the conditions of a :class:`~bayesnet.knowledge.network.NoisyOrNetwork` are independent.
Summing over every joint context configuration is exact but costs the product of all context
cardinalities. The knowledge base is sparser than that: most conditions depend on the age band and
one history node, a few on two. So the context nodes are split once, when the engine is built:

* the *hub*: context nodes whose joint configurations are enumerated;
* the *satellites*: the other context nodes that some condition depends on, joined into blocks. Two
  nodes outside the hub are in one satellite when a condition depends on both (so trauma and a
  bleeding tendency form one satellite of four joint states when both raise a haematoma). Given a
  hub configuration each satellite touches only its own *group* of conditions, so the sum over its
  joint states is taken group by group (a star-shaped sum), never jointly with the other satellites;
* the *unused* context nodes, which no condition depends on: a constant factor.

The hub is chosen to make the work per query smallest: the number of hub configurations times the
condition weights computed for each (one per plain condition, one per joint state for each member of
a satellite group), with no satellite above ``JOINT_LIMIT`` joint states. Any network structure is
handled exactly: in the worst case the hub is every context node (plain enumeration of the joint
configurations).
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
#: a satellite joins at most this many joint states
JOINT_LIMIT = 16


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
        One tuple of context node indices per satellite, summed group by group over their joint
        states (the first node's state varies slowest).
    group
        ``(n,)``: for each condition the position of its satellite in ``satellites``, or -1.
    unused
        Context node indices that no condition depends on.
    width
        The largest number of joint states of a satellite (1 if there is none).
    cards
        The number of states of every context node.

    Context likelihoods are often handled as one concatenated vector of all context states
    (``offsets`` give where each node starts; one extra entry at the end stands for an impossible
    state and pads the satellites to ``width``).
    """

    hub: tuple[int, ...]
    hub_states: np.ndarray
    satellites: tuple[tuple[int, ...], ...]
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
        return _strides([self.cards[k] for k in self.hub])

    @cached_property
    def satellite_sizes(self) -> tuple[int, ...]:
        """The number of joint states of each satellite."""
        return tuple(int(np.prod([self.cards[k] for k in nodes])) for nodes in self.satellites)

    @cached_property
    def membership(self) -> np.ndarray:
        """``(n, G)``: 1 where a condition belongs to a satellite's group."""
        return (self.group[:, None] == np.arange(len(self.satellites))[None, :]).astype(float)

    @cached_property
    def satellite_states(self) -> tuple[np.ndarray, ...]:
        """For each satellite ``(S_g, len(nodes))``: each node's state in each joint state."""
        return tuple(np.array(list(itertools.product(*(range(self.cards[k]) for k in nodes))), dtype=int)
                     for nodes in self.satellites)

    @cached_property
    def satellite_index(self) -> np.ndarray:
        """``(G, width, K)``: for each satellite and joint state the positions of its nodes' states in
        the concatenated vector (``K`` the most nodes in a satellite; -1 where a satellite has fewer
        nodes); a padding state points its first node at the impossible entry."""
        pad = int(self.offsets[-1])
        depth = max((len(nodes) for nodes in self.satellites), default=1)
        index = np.full((len(self.satellites), self.width, depth), -1)
        index[:, :, 0] = pad
        for g, (nodes, states) in enumerate(zip(self.satellites, self.satellite_states)):
            index[g, :len(states), :len(nodes)] = self.offsets[list(nodes)][None, :] + states
        return index

    def satellite_log_weight(self, log_weight: np.ndarray) -> np.ndarray:
        """``(..., G, width)``: each satellite's joint states' log weights from the per-state log
        weights ``(..., T + 1)`` of the concatenated vector (the padding states: -inf)."""
        padded = np.concatenate([log_weight, np.zeros(log_weight.shape[:-1] + (1,))], axis=-1)
        return padded[..., self.satellite_index].sum(axis=-1)        # -1 reads the appended log 1

    def joint_states(self, state: np.ndarray) -> np.ndarray:
        """``(N, G)``: each satellite's joint state from every context node's state ``(N, K)``."""
        joint = np.zeros((state.shape[0], len(self.satellites)), dtype=int)
        for g, nodes in enumerate(self.satellites):
            joint[:, g] = (state[:, list(nodes)] * _strides([self.cards[k] for k in nodes])).sum(axis=1)
        return joint


def _strides(cards: list[int]) -> np.ndarray:
    """Multipliers turning states into the index of their joint configuration (the first slowest)."""
    return np.array([int(np.prod(cards[c + 1:])) for c in range(len(cards))], dtype=int)


def _satellite_blocks(parents: list[set[int]], used: list[int], hub: set[int]) -> list[tuple[int, ...]]:
    """The context nodes outside ``hub`` joined into satellites: two nodes are in one satellite when
    some condition depends on both (connected components, each sorted, in order of first node)."""
    root = {k: k for k in used if k not in hub}

    def find(k: int) -> int:
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    for p in parents:
        rest = sorted(p - hub)
        for k in rest[1:]:
            root[find(k)] = find(rest[0])
    blocks: dict[int, list[int]] = {}
    for k in sorted(root):
        blocks.setdefault(find(k), []).append(k)
    return [tuple(b) for b in blocks.values()]


def context_structure(network: NoisyOrNetwork) -> ContextStructure:
    """Choose the hub of ``network``'s context (see the module docstring)."""
    cards = [len(s) for s in network.context_states]
    parents = [set(p) for p in network.risk_parents]
    used = sorted(set().union(*parents)) if parents else []
    multi = [p for p in parents if len(p) > 1]

    def configurations(nodes) -> int:
        return int(np.prod([cards[k] for k in nodes])) if nodes else 1

    def cost(hub: set[int]) -> tuple[int, int] | None:
        """Condition weights per query and hub configurations; None if a satellite is too large."""
        blocks = _satellite_blocks(multi, used, hub)
        if any(len(b) > 1 and configurations(b) > JOINT_LIMIT for b in blocks):
            return None
        sizes = {k: configurations(b) for b in blocks for k in b}
        weights = sum(sizes[min(p - hub)] if p - hub else 1 for p in parents)
        return configurations(hub) * weights, configurations(hub)

    candidates = sorted({k for p in multi for k in p})
    best: set[int] = set(candidates)
    if len(candidates) <= EXHAUSTIVE_LIMIT:
        best_cost = cost(best)
        for r in range(len(candidates) + 1):
            for hub in itertools.combinations(candidates, r):
                c = cost(set(hub))
                if c is not None and (best_cost is None or c < best_cost):
                    best, best_cost = set(hub), c
    else:  # greedy: repeatedly take the node shared by most conditions with two parents outside the hub
        best = set()
        while any(len(p - best) > 1 for p in multi):
            count = {k: sum(k in p - best for p in multi if len(p - best) > 1) for k in candidates}
            best.add(max(count, key=lambda k: (count[k], -cards[k])))
    hub = tuple(sorted(best))
    satellites = tuple(_satellite_blocks(multi, used, set(hub)))
    group = np.full(len(network.conditions), -1)
    for j, p in enumerate(parents):
        rest = p - set(hub)
        if rest:
            group[j] = next(g for g, nodes in enumerate(satellites) if min(rest) in nodes)
    joint = list(itertools.product(*(range(cards[k]) for k in hub)))
    hub_states = np.array(joint, dtype=int).reshape(len(joint), len(hub))
    return ContextStructure(
        hub=hub,
        hub_states=hub_states,
        satellites=satellites,
        group=group,
        unused=tuple(k for k in range(len(cards)) if k not in used),
        width=max([configurations(nodes) for nodes in satellites], default=1),
        cards=tuple(cards),
    )


def log_absent_table(structure: ContextStructure, condition_leak: np.ndarray,
                     risk: tuple[np.ndarray, ...]) -> np.ndarray:
    """log P(condition absent | hub configuration, satellite state), shape ``(..., A, n, width)``.

    ``condition_leak`` is ``(..., n)`` and ``risk[k]`` is ``(..., n, states_k)``; leading axes (a
    batch of parameter sets) are kept. For a condition without a satellite the last axis repeats;
    for a satellite with fewer joint states than ``width`` the extra entries repeat its first state
    (they are given zero weight when summed).
    """
    with np.errstate(divide="ignore"):
        table = np.log1p(-np.asarray(condition_leak, float))[..., None, :, None]      # (..., 1, n, 1)
        for col, k in enumerate(structure.hub):
            keep = np.log1p(-np.asarray(risk[k], float))                               # (..., n, S_k)
            table = table + np.moveaxis(keep[..., structure.hub_states[:, col]], -1, -2)[..., None]
        n = table.shape[-2]
        lead = np.broadcast_shapes(*(np.shape(risk[k])[:-2] for nodes in structure.satellites for k in nodes))
        satellite = np.zeros(lead + (1, n, structure.width))
        for g, (nodes, states) in enumerate(zip(structure.satellites, structure.satellite_states)):
            members = np.flatnonzero(structure.group == g)
            padded = np.zeros(structure.width, dtype=int)
            padded[:len(states)] = np.arange(len(states))
            for col, k in enumerate(nodes):                                            # a joint state's factors
                keep = np.log1p(-np.asarray(risk[k], float))[..., members, :]          # (..., members, S_k)
                satellite[..., 0, members, :] += keep[..., states[padded, col]]
    return table + satellite
