"""Exact sums over the conditions of a noisy-OR layer: a forward-backward sweep over activation states.

The problem
-----------
Given a hub configuration ``a`` (and, inside a satellite group, a satellite state ``s``) the
conditions ``d_j`` are independent with weights ``q0_j`` (absent) and ``q1_j`` (present). A finding
``k`` whose evidence is not absorbed into the conditions (a positive or soft finding: a *slot*) is
produced by each present cause ``j`` independently with probability ``p_kj``; it ends *activated*
(some cause fired) or not, and its evidence then weighs ``final[k, 1]`` or ``final[k, 0]``. The
leak and the likelihood are folded into those two weights. The quantity wanted is

    Z = sum over d of prod_j q_{d_j, j} * E[prod_k final[k, activated_k] | d]

and, for every condition, the same sum restricted to ``d_j = 1``.

The sweep
---------
The conditions are visited in an order; the state is the set of open slots already activated, a
tensor with one axis of length 2 per open slot. Visiting condition ``j`` maps the state ``v`` to
``q0_j v + q1_j T_j v``, where ``T_j`` lets each of ``j``'s slots fire with probability ``p_kj``:
a stochastic, non-negative map. A slot is opened just before its first cause and closed (its axis
contracted with its final weights) just after its last, so the state holds only the slots whose
causes straddle the current position; the order of the conditions is chosen greedily to keep that
number small. A backward pass computes the adjoint vectors; each condition's joint with
``d_j = 1`` is then one inner product. Every number added is non-negative, so nothing cancels: the
result is exact to rounding however many findings are positive (Quickscore reaches the same sums
through an alternating series that loses all precision with ten or more positive findings).

Satellite groups (see :mod:`bayesnet.inference.context`) are visited contiguously; inside a group the state
carries an extra axis over the satellite's states, summed with the group's mixing weights on leaving
it. Every array has leading axes ``(N, A)``: a batch (cases or parameter sets) and the hub
configurations. The cost is about ``N * A * (number of edges) * 2**(open slots)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["sweep", "plan", "Plan", "SweepResult"]

#: with more slots than this the order of the conditions is chosen greedily
GREEDY_SLOTS = 12
#: a state whose largest entry falls below this is rescaled (far above the float64 underflow)
RESCALE_BELOW = 1e-100


@dataclass(frozen=True)
class Plan:
    """The steps of a sweep, each ``(kind, index, axis, edges)``.

    ``kind`` is ``add`` (open slot ``index`` as state axis 0), ``drop`` (close slot ``index``, at
    state axis ``axis``), ``cond`` (visit condition ``index``; ``edges`` lists ``(axis, slot)``),
    ``enter`` or ``exit`` (satellite group ``index``). ``swept`` marks the conditions visited and
    ``peak`` is the largest number of slots open at once.
    """

    steps: tuple[tuple[str, int, int, tuple[tuple[int, int], ...]], ...]
    swept: np.ndarray
    peak: int


@dataclass(frozen=True)
class SweepResult:
    """What the sweep returns, per batch row and hub configuration.

    ``log_z`` is ``(N, A)``; ``present[:, :, j]`` is P(d_j = 1 | a, evidence) for the swept
    conditions (``swept``) and 0 elsewhere; ``satellite[:, :, g, s]`` is P(s | a, evidence) for
    every mixed group ``g`` (zero beyond its states).
    """

    log_z: np.ndarray
    present: np.ndarray
    swept: np.ndarray
    satellite: np.ndarray


def plan(active: np.ndarray, group: np.ndarray) -> Plan:
    """Order the visit; ``active[k, j]`` says that condition ``j`` can activate slot ``k``.

    ``group[j]`` is the mixed satellite group of condition ``j`` (a group's members are visited
    together) or -1. The plan visits only the conditions that can activate a slot, in an order
    chosen to keep few slots open, and opens each slot just before its first cause and closes it
    just after its last.
    """
    n_slots, n = active.shape
    swept = active.any(axis=0)
    blocks: list[tuple[int, np.ndarray]] = [(-1, np.array([j])) for j in np.flatnonzero(swept & (group < 0))]
    for g in np.unique(group[swept & (group >= 0)]):
        blocks.append((int(g), np.flatnonzero(swept & (group == g))))
    if n_slots > GREEDY_SLOTS and len(blocks) > 1:
        blocks = _greedy(blocks, active)
    order = [int(j) for _, members in blocks for j in members]
    slot_list, cond_list = np.nonzero(active)
    causes_of: dict[int, list[int]] = {}
    for k, j in zip(slot_list.tolist(), cond_list.tolist()):
        causes_of.setdefault(j, []).append(k)
    opens: dict[int, list[int]] = {}
    closes: dict[int, list[int]] = {}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for j in order:
        for k in causes_of.get(j, ()):
            if k not in first:
                first[k] = j
            last[k] = j
    for k, j in first.items():
        opens.setdefault(j, []).append(k)
    for k, j in last.items():
        closes.setdefault(j, []).append(k)
    steps: list[tuple[str, int, int, tuple[tuple[int, int], ...]]] = []
    open_slots: list[int] = []

    def add(k: int) -> None:
        steps.append(("add", k, 0, ()))
        open_slots.insert(0, k)

    def drop(k: int) -> None:
        steps.append(("drop", k, open_slots.index(k), ()))
        open_slots.remove(k)

    for k in range(n_slots):
        if k not in first:  # no condition can activate it: a constant weight
            add(k)
            drop(k)
    peak = len(open_slots)
    for g, members in blocks:
        if g >= 0:
            steps.append(("enter", g, 0, ()))
        for j in members.tolist():
            for k in opens.get(j, ()):
                add(k)
            peak = max(peak, len(open_slots))
            steps.append(("cond", j, 0, tuple((open_slots.index(k), k) for k in causes_of.get(j, ()))))
            for k in closes.get(j, ()):
                drop(k)
        if g >= 0:
            steps.append(("exit", g, 0, ()))
    for k in list(open_slots):
        drop(k)
    return Plan(tuple(steps), swept, peak)


def _greedy(blocks: list[tuple[int, np.ndarray]], active: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Order blocks so that few slots are open at once (greedy on the number open during a block)."""
    touch = np.array([active[:, members].any(axis=1) for _, members in blocks])        # (B, M)
    count = np.array([active[:, members].sum(axis=1) for _, members in blocks])        # (B, M)
    remaining = active.sum(axis=1).astype(int)                                         # (M,)
    is_open = np.zeros(active.shape[0], bool)
    left = np.ones(len(blocks), bool)
    order = []
    for _ in range(len(blocks)):
        opened = is_open | touch
        after = opened & (remaining[None, :] - count != 0)
        key = np.where(left, opened.sum(axis=1) * 1000 + after.sum(axis=1), np.iinfo(np.int64).max)
        b = int(np.argmin(key))
        order.append(b)
        left[b] = False
        remaining = remaining - count[b]
        is_open = after[b]
    return [blocks[b] for b in order]


def _at(axis: int, index: int) -> tuple:
    return (slice(None),) * axis + (index,)


def _normalise(x: np.ndarray, log_scale: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Rescale the (row, hub) blocks of a state ``(2, ..., 2, N, A, S)`` whose largest entry fell
    below ``RESCALE_BELOW``, each by a power of two (exactly, so no rounding), adding the log of the
    factor to ``log_scale``. Whether a block is rescaled depends on that block alone, so a row's
    numbers never depend on other rows. Also returns the smallest non-zero block maximum after."""
    N, A, S = x.shape[-3:]
    top = x.reshape(-1, N, A, S).max(axis=(0, 3))                                          # (N, A)
    low = (top < RESCALE_BELOW) & (top > 0)
    if low.any():
        exponent = np.where(low, np.frexp(top)[1], 0)
        x = x * np.ldexp(1.0, -exponent)[:, :, None]
        step = exponent * np.log(2.0)
        log_scale = step if log_scale is None else log_scale + step
        top = np.where(low, np.ldexp(top, -exponent), top)
    positive = top[top > 0]
    return x, log_scale, float(positive.min()) if positive.size else 1.0


def sweep(q0: np.ndarray, q1: np.ndarray, links: np.ndarray, final: np.ndarray, group: np.ndarray,
          mixing: np.ndarray, sizes: tuple[int, ...]) -> SweepResult:
    """Run the sweep (see the module docstring).

    Parameters
    ----------
    q0, q1
        ``(N, A, n, W)``: the weights of each condition absent and present, per hub configuration
        and satellite state, normalised so that ``q0 + q1`` is 1 (or both are 0).
    links
        ``(N, M, n)``: the probability that condition ``j`` alone activates slot ``k``.
    final
        ``(N, M, 2)``: the weight of slot ``k`` when not activated and when activated.
    group
        ``(n,)``: the mixed satellite group of each condition, or -1.
    mixing
        ``(N, A, G, W)``: for each mixed group the weights of its satellite states (summing to 1).
    sizes
        The number of states of each mixed group.
    """
    N, A, n, _ = q0.shape
    the_plan = plan((links != 0).any(axis=0), group)
    steps = the_plan.steps
    p_all = links[:, :, :, None, None]                                                   # (N, M, n, 1, 1)
    w_all = final[:, :, :, None, None]                                                   # (N, M, 2, 1, 1)
    q0t, q1t = np.moveaxis(q0, 2, 0), np.moveaxis(q1, 2, 0)                              # (n, N, A, W)
    # lower bounds, per slot over all rows, for the rescaling test (see _normalise)
    smaller = final.min(axis=2).min(axis=0).tolist() if final.size else []
    activated = final[:, :, 1].min(axis=0).tolist() if final.size else []

    # ---- backward: the adjoint after every step; state axes (2, ..., 2, N, A, S).
    # ``bound`` stays below the largest entry of every non-zero (row, hub) block: drops multiply the
    # all-activated entry by the slot's activated weight, opening a slot keeps at least the smaller
    # weight of it, leaving a group keeps at least 1/S, conditions leave that entry unchanged.
    after: list = [None] * len(steps)
    after_scale: list = [None] * len(steps)
    beta = np.ones((N, A, 1))
    log_b = None
    bound = 1.0
    for t in range(len(steps) - 1, -1, -1):
        kind, index, axis, edges = steps[t]
        if kind == "cond":
            after[t], after_scale[t] = beta, log_b
            width = beta.shape[-1]
            moved = beta.copy()
            for ax, k in edges:  # lo -> (1 - p) lo + p hi; as lo + p (hi - lo) it cancels when p is near 1
                lo, hi = moved[_at(ax, 0)], moved[_at(ax, 1)]
                p = p_all[:, k, index]
                lo *= 1.0 - p
                lo += p * hi
            beta = beta * q0t[index, :, :, :width] + moved * q1t[index, :, :, :width]
        elif kind == "drop":
            w = w_all[:, index]
            beta = np.stack([beta * w[:, 0], beta * w[:, 1]], axis=axis)
            bound *= activated[index]
        elif kind == "add":
            beta = beta[0]
            bound *= smaller[index]
        elif kind == "exit":
            after[t], after_scale[t] = beta, log_b
            beta = beta * mixing[:, :, index, :sizes[index]]
            bound /= sizes[index]
        else:  # enter
            beta = beta.sum(axis=-1, keepdims=True)
        if bound < RESCALE_BELOW:
            beta, log_b, bound = _normalise(beta, log_b)

    # ---- forward: the state, and each condition's joint with d_j = 1. The total of a (row, hub,
    # satellite) block is kept by conditions and groups and shrinks at a drop by at most the slot's
    # smaller weight; its largest entry is at least the total over the number of entries.
    alpha = np.ones((N, A, 1))
    log_a = None
    total = 1.0
    raw = np.zeros((N, A, n))
    raw_scale: dict[int, np.ndarray] = {}
    satellite = mixing.copy()
    satellite_scale: dict[int, np.ndarray] = {}
    for t, (kind, index, axis, edges) in enumerate(steps):
        if kind == "cond":
            width = alpha.shape[-1]
            moved = alpha.copy()
            for ax, k in edges:  # lo -> (1 - p) lo, not lo - p lo, which cancels when p is near 1
                lo, hi = moved[_at(ax, 0)], moved[_at(ax, 1)]
                p = p_all[:, k, index]
                hi += lo * p
                lo *= 1.0 - p
            w1 = q1t[index, :, :, :width]
            raw[:, :, index] = ((moved * after[t]).reshape(-1, N, A, width).sum(axis=0) * w1).sum(axis=-1)
            if log_a is not None or after_scale[t] is not None:
                raw_scale[index] = _add(log_a, after_scale[t])
            alpha = alpha * q0t[index, :, :, :width] + moved * w1
        elif kind == "add":
            alpha = np.stack([alpha, np.zeros_like(alpha)])
        elif kind == "drop":
            w = w_all[:, index]
            alpha = alpha[_at(axis, 0)] * w[:, 0] + alpha[_at(axis, 1)] * w[:, 1]
            total *= smaller[index]
            if total < RESCALE_BELOW * alpha.size / (N * A):
                alpha, log_a, total = _normalise(alpha, log_a)
        elif kind == "enter":
            alpha = np.repeat(alpha, sizes[index], axis=-1)
        else:  # exit
            pi = mixing[:, :, index, :sizes[index]]
            inner = (alpha * after[t]).reshape(-1, N, A, sizes[index]).sum(axis=0)
            satellite[:, :, index, :sizes[index]] = inner * pi
            if log_a is not None or after_scale[t] is not None:
                satellite_scale[index] = _add(log_a, after_scale[t])
            alpha = (alpha * pi).sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = alpha[..., 0]
        log_z = np.log(z) if log_a is None else np.log(z) + log_a
        finite = np.isfinite(log_z)
        exited = [index for kind, index, _, _ in steps if kind == "exit"]
        if log_a is None and not raw_scale and not satellite_scale:  # nothing was rescaled
            present = np.where(finite[..., None], raw / z[..., None], 0.0)
            for g in exited:
                satellite[:, :, g] = np.where(finite[..., None], satellite[:, :, g] / z[..., None], 0.0)
        else:
            safe_z = np.where(finite, log_z, 0.0)
            scale = np.zeros((N, A, n))
            for j, value in raw_scale.items():
                scale[:, :, j] = value
            present = np.where(finite[..., None], np.exp(np.log(raw) + scale - safe_z[..., None]), 0.0)
            for g in exited:
                value = satellite_scale.get(g, 0.0)
                satellite[:, :, g] = np.where(finite[..., None], np.exp(np.log(satellite[:, :, g])
                                                                        + (value - safe_z)[..., None]), 0.0)
    return SweepResult(log_z, present, the_plan.swept, satellite)


def _add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray:
    """The sum of two log scales, either of which may be absent (zero)."""
    if a is None:
        return b if b is not None else 0.0
    return a if b is None else a + b
