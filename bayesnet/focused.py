"""Exact sums over the slots for one evidence set, in closed form given the multi-slot conditions.

This is the method of :mod:`bayesnet.sweep` arranged for a single evidence set, where the number of
array operations, not their size, sets the time. The slots are the positive and soft findings;
``final[k]`` weighs slot ``k`` not activated / activated; the leading axis ``A`` runs over context
configurations.

* A condition that can activate only one slot ``k`` acts on ``k`` alone. Such conditions form
  *units*: all the plain ones on slot ``k``, or a satellite group whose swept members all act on
  the same slot (its states mixed with weights ``pi``). A unit leaves ``k`` unactivated with
  probability ``rho_u = sum_s pi_s prod_j (1 - q1_j(s) p_kj)``, and units on the same slot compose
  by multiplication: ``r_k = prod_u rho_u``.
* The conditions that can activate several slots (usually a handful) are enumerated: given their
  states ``c`` every slot is independent, left unactivated with probability
  ``r_k prod_{j in c} (1 - p_kj)``, and weighs ``final[k, 0] r + final[k, 1] (1 - r)`` (``1 - r``
  by ``expm1``). The sum over ``c`` is a sum of non-negative terms.
* Each slot then has weights ``c_lo, c_hi`` with ``P(evidence | c) = r c_lo + (1 - r) c_hi``; a unit
  member's joint with ``d_j = 1`` and a unit satellite's posterior follow by putting the forced
  value of ``r`` into that expression.

Every factor is non-negative and every product a sum of logs, so nothing cancels. When the
enumeration would be large, or a certain link meets a certain cause, :class:`NeedsGeneralPath` is
raised and the general sweep answers.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["solve", "NeedsGeneralPath"]

#: largest enumeration (configurations x context configurations x (slots + unit members x states))
ENUMERATION_LIMIT = 1 << 15


class NeedsGeneralPath(Exception):
    """The closed forms do not apply (too large, or a log of zero); the general sweep answers."""


@lru_cache(maxsize=32)
def _bits(count: int) -> np.ndarray:
    """``(2**count, count)``: every assignment of ``count`` binary conditions."""
    return ((np.arange(1 << count)[:, None] >> np.arange(count)[None, :]) & 1).astype(float)


def solve(q0: np.ndarray, q1: np.ndarray, unit_q0: np.ndarray, unit_q1: np.ndarray, unit_pi: np.ndarray,
          unit_group: np.ndarray, links: np.ndarray, final: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sum the slots exactly for one evidence set.

    Parameters
    ----------
    q0, q1
        ``(A, n)``: P(condition absent / present) per context configuration, normalised, for the
        conditions outside unit groups.
    unit_q0, unit_q1
        ``(A, n, S)``: the same per satellite state, for members of unit groups.
    unit_pi
        ``(A, G, S)``: the mixing weights of each unit group's states (zero beyond its states).
    unit_group
        ``(n,)``: each condition's unit group, or -1.
    links, final
        ``(M, n)`` link probabilities from conditions to slots and ``(M, 2)`` slot weights.

    Returns
    -------
    log_z, present, swept, satellite
        ``(A,)`` log of the sum (relative to the normalisations), ``(A, n)`` P(d_j = 1 | config,
        evidence) for the swept conditions, ``(n,)`` which are swept, and ``(A, G, S)`` the unit
        groups' posteriors over their states.
    """
    A, n = q1.shape
    M = links.shape[0]
    S = unit_q1.shape[2]
    G = unit_pi.shape[1]
    active = links > 0
    touches = active.sum(axis=0)
    swept = touches > 0
    multi = (touches >= 2).nonzero()[0]
    slot_of = active.argmax(axis=0)
    members = (touches == 1).nonzero()[0]
    J = multi.size
    if (A << J) * (M + members.size * S) > ENUMERATION_LIMIT:
        raise NeedsGeneralPath

    # ---- units: plain single-slot conditions per slot (units 0..M-1), then unit groups (M..M+G-1)
    in_group = unit_group[members] >= 0
    unit = np.where(in_group, M + unit_group[members], slot_of[members])
    slot_u = slot_of[members]
    p = links[slot_u, members]                                                               # (Jm,)
    if in_group.any():
        mq1 = np.where(in_group[:, None], unit_q1[:, members, :], q1[:, members, None])     # (A, Jm, S)
        mq0 = np.where(in_group[:, None], unit_q0[:, members, :], q0[:, members, None])
    else:
        mq1, mq0 = q1[:, members, None], q0[:, members, None]
    # log(1 - q1 p), accurately both when q1 p is small and when it is close to 1
    qp = mq1 * p[:, None]
    own = np.where(qp <= 0.5, np.log1p(-qp), np.log(mq0 + mq1 * (1.0 - p)[:, None]))
    keep = np.log1p(-p)
    if not (own.min(initial=0.0) > -np.inf and keep.min(initial=0.0) > -np.inf):
        raise NeedsGeneralPath
    if J:
        log_keep_multi = np.log1p(-links[:, multi])                                          # (M, J)
        if not log_keep_multi.min() > -np.inf:
            raise NeedsGeneralPath
    else:
        log_keep_multi = np.zeros((M, 0))
    assign = np.zeros((members.size, M + G))
    assign[np.arange(members.size), unit] = 1.0
    log_prod = np.einsum("ajs,ju->aus", own, assign)                                        # (A, U, S)
    pi = np.zeros((A, M + G, S))                                                              # (A, U, S)
    pi[:, :M, 0] = 1.0  # a plain unit is certain of its first state
    if G:
        pi[:, M:] = unit_pi
    rho = (pi * np.exp(log_prod)).sum(axis=2)                                                 # (A, U)
    if not rho.min(initial=1.0) > 0:
        raise NeedsGeneralPath
    # log rho accurately also when rho is close to 1 (from 1 - rho, a sum of non-negative terms)
    log_rho = np.where(rho > 0.5, np.log1p((pi * np.expm1(log_prod)).sum(axis=2)), np.log(rho))
    unit_slot = np.arange(M + G)
    if G:
        unit_slot[M + unit_group[members][in_group]] = slot_u[in_group]
    to_slot = np.zeros((M + G, M))
    to_slot[np.arange(M + G), np.minimum(unit_slot, M - 1)] = 1.0
    log_r = log_rho @ to_slot                                                                 # (A, M)

    w0, w1 = final[:, 0], final[:, 1]
    if not J:  # nothing to enumerate: one configuration, certain, so the sums over it drop out
        factor = w0 * np.exp(log_r) - w1 * np.expm1(log_r)                                    # (A, M)
        log_z = np.log(factor).sum(axis=1)                                                     # (A,)
        if log_z.min() > -np.inf:
            lo, hi = w0 / factor, w1 / factor
            forced = log_prod[:, unit, :] - own + keep[:, None] + (log_r[:, slot_u] - log_rho[:, unit])[:, :, None]
            value = lo[:, slot_u, None] * np.exp(forced) - hi[:, slot_u, None] * np.expm1(forced)
            present = np.zeros((A, n))
            present[:, members] = (pi[:, unit, :] * mq1 * value).sum(axis=2)
            satellite = np.zeros((A, G, S))
            if G:
                slot_g = unit_slot[M:]
                t = log_prod[:, M:, :] + (log_r[:, slot_g] - log_rho[:, M:])[:, :, None]
                satellite = unit_pi * (lo[:, slot_g, None] * np.exp(t) - hi[:, slot_g, None] * np.expm1(t))
            return log_z, present, swept, satellite

    # ---- enumerate the multi-slot conditions: c axis first
    bits = _bits(J)                                                                           # (C, J)
    shift = bits @ log_keep_multi.T                                                           # (C, M)
    level = log_r[None, :, :] + shift[:, None, :]                                             # (C, A, M)
    factor = w0 * np.exp(level) - w1 * np.expm1(level)                                       # (C, A, M)
    log_weight = np.log(factor).sum(axis=2)                                                   # (C, A)
    if J:
        log_weight = log_weight + bits @ np.log(q1[:, multi]).T + (1.0 - bits) @ np.log(q0[:, multi]).T
    top = log_weight.max(axis=0)
    safe = np.where(top > -np.inf, top, 0.0)
    share = np.exp(log_weight - safe)
    total = share.sum(axis=0)
    log_z = np.log(total) + safe                                                              # (A,)
    chance = share / np.where(total > 0, total, 1.0)                                          # (C, A): P(c | a, evidence)
    present = np.zeros((A, n))
    if J:
        present[:, multi] = (bits.T @ chance).T
    lo = chance[:, :, None] * w0 / factor                                                     # (C, A, M)
    hi = chance[:, :, None] * w1 / factor

    # ---- unit members and unit satellites
    rest = (log_r[:, slot_u] - log_rho[:, unit])[:, :, None]                                  # (A, Jm, 1)
    forced = (log_prod[:, unit, :] - own + keep[:, None] + rest)[None] + shift[:, None, slot_u, None]
    value = (lo[:, :, slot_u, None] * np.exp(forced) - hi[:, :, slot_u, None] * np.expm1(forced)).sum(axis=0)
    present[:, members] = (pi[:, unit, :] * mq1 * value).sum(axis=2)
    satellite = np.zeros((A, G, S))
    if G:
        slot_g = unit_slot[M:]
        t = (log_prod[:, M:, :] + (log_r[:, slot_g] - log_rho[:, M:])[:, :, None])[None] + shift[:, None, slot_g, None]
        satellite = unit_pi * (lo[:, :, slot_g, None] * np.exp(t) - hi[:, :, slot_g, None] * np.expm1(t)).sum(axis=0)
    present = np.where((log_z > -np.inf)[:, None], present, 0.0)
    return log_z, present, swept, satellite




def solve_rows(q0: np.ndarray, q1: np.ndarray, links: np.ndarray, final: np.ndarray,
               max_multi: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`solve` for many rows at once, each with its own evidence, with the context known.

    Every row is answered by the same closed form: its single-slot conditions in closed form, its own
    multi-slot conditions enumerated (padded to the largest number in the batch with conditions that
    are never present, which add exact zeros). Sums over the enumeration run along the leading axis,
    in order, so a row's arithmetic does not depend on the other rows.

    Parameters
    ----------
    q0, q1
        ``(N, n)``: P(condition absent / present) given the row's context and absorbed evidence.
    links, final
        ``(N, M, n)`` and ``(N, M, 2)`` as for :func:`solve`, per row.

    Returns
    -------
    log_z, present, swept, ok
        ``(N,)``, ``(N, n)`` (P(d_j = 1 | evidence) where ``swept``), ``(N, n)``, and ``(N,)``: False
        for rows this form cannot answer (more than ``max_multi`` multi-slot conditions, or a log of
        zero); their numbers are meaningless and the caller answers them another way.
    """
    N, M, n = links.shape
    if not M:
        return np.zeros(N), np.zeros((N, n)), np.zeros((N, n), bool), np.ones(N, bool)
    active = links > 0
    touches = active.sum(axis=1)                                                              # (N, n)
    multi = touches >= 2
    single = touches == 1
    ok = multi.sum(axis=1) <= max_multi
    multi &= ok[:, None]
    J = int(multi.sum(axis=1).max(initial=0))
    rows = np.arange(N)[:, None]
    # ---- single-slot conditions: per slot, r = prod (1 - q1 p)
    on_slot = active & single[:, None, :]                                                     # (N, M, n)
    p = (links * on_slot).sum(axis=1)                                                         # (N, n): own link
    qp = q1 * p
    own = np.where(qp <= 0.5, np.log1p(-qp), np.log(q0 + q1 * (1.0 - p)))                     # (N, n)
    keep = np.log1p(-p)
    ok &= (own > -np.inf).all(axis=1) & (keep > -np.inf).all(axis=1)
    own = np.where(ok[:, None], own, 0.0)
    keep = np.where(ok[:, None], keep, 0.0)
    log_r = np.einsum("nj,nmj->nm", own, on_slot.astype(float))                              # (N, M)
    # ---- multi-slot conditions, padded with a condition that is never present
    order = np.argsort(~multi, axis=1, kind="stable")[:, :J]                                  # (N, J): multi first
    real = np.take_along_axis(multi, order, axis=1)
    with np.errstate(divide="ignore"):
        log_q1m = np.where(real, np.log(np.take_along_axis(q1, order, axis=1)), -np.inf)       # (N, J)
        log_q0m = np.where(real, np.log(np.take_along_axis(q0, order, axis=1)), 0.0)
        keep_m = np.where(real[:, None, :], np.log1p(-links[rows, :, order].transpose(0, 2, 1)), 0.0)  # (N, M, J)
    ok &= (keep_m > -np.inf).all(axis=(1, 2))
    keep_m = np.where(ok[:, None, None], keep_m, 0.0)
    bits = _bits(J)                                                                            # (C, J)
    shift = np.zeros((bits.shape[0], N, M))
    weight = np.zeros((bits.shape[0], N))
    for j in range(J):  # in order, so that padding adds exact zeros at the end
        on = bits[:, j, None, None] > 0
        shift = shift + np.where(on, keep_m[None, :, :, j], 0.0)
        weight = weight + np.where(on[:, :, 0], log_q1m[None, :, j], log_q0m[None, :, j])
    level = log_r[None] + shift                                                                # (C, N, M)
    w0, w1 = final[None, :, :, 0], final[None, :, :, 1]
    factor = w0 * np.exp(level) - w1 * np.expm1(level)
    with np.errstate(divide="ignore"):
        weight = weight + np.log(factor).sum(axis=2)                                           # (C, N)
    top = weight.max(axis=0)
    safe = np.where(top > -np.inf, top, 0.0)
    share = np.exp(weight - safe)
    total = share.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_z = np.log(total) + safe
        chance = share / total                                                                 # (C, N)
        possible = factor > 0
        lo = np.where(possible, chance[:, :, None] * w0 / factor, 0.0)                         # (C, N, M)
        hi = np.where(possible, chance[:, :, None] * w1 / factor, 0.0)
    present = np.zeros((N, n))
    if J:
        multi_present = (chance[:, :, None] * bits[:, None, :]).sum(axis=0)                    # (N, J)
        np.put_along_axis(present, order, np.where(real, multi_present, 0.0), axis=1)
    # ---- single-slot conditions: their slot's r with the condition forced present
    slot = on_slot.argmax(axis=1)                                                              # (N, n)
    forced = (keep - own + np.take_along_axis(log_r, slot, axis=1))[None]                     # (1, N, n)
    if J:
        columns = np.arange(N)[:, None], slot
        forced = forced + shift[:, columns[0], columns[1]]
        value = (lo[:, columns[0], columns[1]] * np.exp(forced)
                 - hi[:, columns[0], columns[1]] * np.expm1(forced)).sum(axis=0)               # (N, n)
    else:
        forced = forced[0]
        value = np.take_along_axis(lo[0], slot, axis=1) * np.exp(forced) \
            - np.take_along_axis(hi[0], slot, axis=1) * np.expm1(forced)
    present = np.where(single, q1 * value, present)
    present = np.where((log_z > -np.inf)[:, None], present, 0.0)
    return log_z, present, touches > 0, ok
