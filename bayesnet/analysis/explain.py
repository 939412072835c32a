"""Why a condition ranks where it does: the weight of evidence of each observed item.

Definitions
-----------
For a condition ``H`` (``H = present``) and evidence items ``e_1, ..., e_k`` taken in an order, the
*weight of evidence* of item ``i`` is the chain-rule log likelihood ratio

    WoE_i = log P(e_i | H, e_1..e_{i-1}) / P(e_i | not H, e_1..e_{i-1})

in natural-log units (nats; multiply by 4.343 for decibans). By Bayes' rule it is the change in the
log odds of ``H`` that item ``i`` makes once the items before it are known, so the weights add up
exactly to the whole change:

    sum_i WoE_i = log odds(H | e) - log odds(H).

Each log odds is ``log P(e_1..e_i, H = present) - log P(e_1..e_i, H = absent)``. One query per
set of items gives it for every condition at once; where a posterior is above 1/2 (or vanishingly
small) the smaller of the two joint probabilities is queried with the condition clamped, so the log
odds stays exact when the posterior is within rounding of 0 or 1.

The chain-rule weights depend on the order: an item weighs less when an earlier item has already
told the same story. The default order is the order in which the evidence was given; pass
``order`` to choose another. Beside the chain-rule weight two order-free weights describe each item
(they do not add up to the total):

* ``woe_alone``: ``log P(e_i | H) / P(e_i | not H)``, the item as the only evidence;
* ``woe_last``: ``log P(e_i | H, rest) / P(e_i | not H, rest)``, the item given all the other
  evidence (leave-one-out); it equals the chain-rule weight of the item placed last.

Soft evidence items have weights in the same sense (``P(e_i | ...)`` is the likelihood-weighted
probability). Context items (age band, history) are evidence like any other.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayesnet.inference.engine import ExactEngine
from bayesnet.errors import EvidenceError, UnknownNameError
from bayesnet.inference.evidence import EncodedEvidence, describe
from bayesnet.inference.evidence_edit import EvidenceEditor, query_all

__all__ = ["explain_condition", "compare_conditions", "chain_order"]

#: posteriors below this are re-derived from a query with the condition clamped present
TRUSTED = 1e-250


def chain_order(evidence: EncodedEvidence, order: Sequence[str] | None) -> list[int]:
    """Positions of the evidence items in the chain order (``order`` names every observed node once).

    Raises
    ------
    EvidenceError
        If ``order`` does not name each observed node exactly once.
    """
    nodes = [node for node, _ in evidence.items]
    if order is None:
        return list(range(len(nodes)))
    order = list(order)
    for name in order:
        if name not in nodes:
            raise UnknownNameError("observed node in order", name, nodes)
    missing = [n for n in nodes if n not in order]
    repeated = sorted({n for n in order if order.count(n) > 1})
    if missing or repeated:
        raise EvidenceError("order must name every observed node exactly once; "
                            + (f"missing {', '.join(missing)}" if missing else f"repeated {', '.join(repeated)}"))
    return [nodes.index(name) for name in order]


def _log_odds(engine: ExactEngine, editor: EvidenceEditor, sets: Sequence[Sequence[int]],
              conditions: Sequence[int]) -> np.ndarray:
    """log P(items, H=present) - log P(items, H=absent) for each condition ``(C,)`` and item set ``(S,)``.

    One query per item set gives every condition's posterior ``p`` and ``log P(items)``; where
    ``p <= 1/2`` the log odds ``log p - log(1 - p)`` is exact from them. Where ``p > 1/2`` the small
    side ``log P(items, H = absent)`` is queried with ``H`` clamped absent, and where ``p`` is
    too small to trust (below ``1e-250``, or zero) ``log P(items, H = present)`` with ``H`` clamped
    present, so the log odds keeps full relative precision at both ends.
    """
    conditions = list(conditions)
    log_z, posterior = query_all(engine, [editor.subset(items) for items in sets])
    p = posterior[:, conditions].T                                   # (C, S)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_present = log_z[None, :] + np.log(p)
        log_absent = log_z[None, :] + np.log1p(-p)
    possible = np.isfinite(log_z)[None, :] & ~np.isnan(p)
    high = possible & (p > 0.5)
    low = possible & (p < TRUSTED)
    pairs = [(c, s, 0) for c, s in zip(*np.nonzero(high))] + [(c, s, 1) for c, s in zip(*np.nonzero(low))]
    if pairs:
        clamped, _ = query_all(engine, [editor.subset(sets[s], (conditions[c], state)) for c, s, state in pairs])
        for (c, s, state), value in zip(pairs, clamped):
            (log_present if state else log_absent)[c, s] = value
    with np.errstate(invalid="ignore"):
        return np.where(possible, log_present - log_absent, np.nan)


def _condition_index(engine: ExactEngine, editor: EvidenceEditor, condition: str) -> int:
    conditions = engine.network.conditions
    if condition not in conditions:
        raise UnknownNameError("condition", condition, conditions)
    j = conditions.index(condition)
    if j in editor.observed_conditions():
        raise EvidenceError(f"cannot explain {condition}: it is itself part of the evidence")
    return j


def explain_condition(engine: ExactEngine, evidence: EncodedEvidence, condition: str,
                      order: Sequence[str] | None = None) -> pd.DataFrame:
    """The weight of evidence of every observed item for one condition, ranked.

    Parameters
    ----------
    engine
        The exact engine of the model.
    evidence
        Encoded evidence (possible under the model).
    condition
        The condition ``H``; the weights are for ``H = present`` against ``H = absent``.
    order
        The chain order as observed node names; default: the order the evidence was given in.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``evidence`` (``node=state``), ranked by ``woe`` (most in favour first), with
        columns ``node``, ``position`` (1-based place in the chain), ``woe`` (chain rule, nats),
        ``likelihood_ratio`` (``exp(woe)``), ``log_odds_after`` (log odds of ``H`` after this item in
        the chain), ``woe_alone`` and ``woe_last``. ``attrs`` holds ``condition``,
        ``prior_log_odds``, ``posterior_log_odds``, ``prior`` and ``posterior``; the ``woe`` column
        sums to ``posterior_log_odds - prior_log_odds``.

    Raises
    ------
    UnknownNameError
        If ``condition`` is not a condition of the model, or ``order`` names an unobserved node.
    EvidenceError
        If ``condition`` is itself observed, or ``order`` is not a permutation of the observed nodes.
    """
    editor = EvidenceEditor(engine.network, evidence)
    j = _condition_index(engine, editor, condition)
    chain = chain_order(evidence, order)
    k = len(chain)
    everything = list(range(k))
    sets = [chain[:i] for i in range(k + 1)]
    sets += [[p] for p in everything]
    sets += [[q for q in everything if q != p] for p in everything]
    log_odds = _log_odds(engine, editor, sets, [j])[0]
    cumulative = log_odds[: k + 1]
    alone = log_odds[k + 1: 2 * k + 1]
    without = log_odds[2 * k + 1:]
    prior_lo, posterior_lo = cumulative[0], cumulative[k]
    with np.errstate(invalid="ignore"):
        woe = np.diff(cumulative)
        woe_alone = alone - prior_lo
        woe_last = posterior_lo - without
    position = np.empty(k, dtype=int)
    position[chain] = np.arange(1, k + 1)
    by_item = np.empty(k)
    by_item[chain] = woe
    after = np.empty(k)
    after[chain] = cumulative[1:]
    frame = pd.DataFrame({
        "node": list(editor.nodes),
        "position": position,
        "woe": by_item,
        "likelihood_ratio": np.exp(by_item),
        "log_odds_after": after,
        "woe_alone": woe_alone,
        "woe_last": woe_last,
    }, index=pd.Index([describe(n, v) for n, v in evidence.items], name="evidence"))
    frame = frame.sort_values("woe", ascending=False, kind="stable")
    frame.attrs.update(condition=condition, prior_log_odds=float(prior_lo), posterior_log_odds=float(posterior_lo),
                       prior=float(_expit(prior_lo)), posterior=float(_expit(posterior_lo)))
    return frame


def compare_conditions(engine: ExactEngine, evidence: EncodedEvidence, conditions: Sequence[str],
                       order: Sequence[str] | None = None) -> pd.DataFrame:
    """The chain-rule weight of evidence of every observed item for several conditions side by side.

    Parameters
    ----------
    engine
        The exact engine of the model.
    evidence
        Encoded evidence (possible under the model).
    conditions
        The conditions to compare (columns, in this order); none of them may be observed.
    order
        The chain order as observed node names; default: the order the evidence was given in.
        The same order is used for every condition.

    Returns
    -------
    pandas.DataFrame
        One row per evidence item (index ``evidence``, ``node=state``) and one column per condition,
        holding the item's weight of evidence (nats) for that condition; each column sums to that
        condition's change in log odds. Rows are ranked by how far the weights spread between the
        conditions (largest minus smallest): the items at the top are those that separate them.
        ``attrs`` holds ``spread``, ``prior_log_odds`` and ``posterior_log_odds`` (Series).
    """
    editor = EvidenceEditor(engine.network, evidence)
    js = [_condition_index(engine, editor, c) for c in conditions]
    chain = chain_order(evidence, order)
    k = len(chain)
    log_odds = _log_odds(engine, editor, [chain[:i] for i in range(k + 1)], js)   # (C, k + 1)
    with np.errstate(invalid="ignore"):
        woe = np.empty((k, len(js)))
        woe[chain] = np.diff(log_odds, axis=1).T
    columns = pd.Index(list(conditions), name="condition")
    frame = pd.DataFrame(woe, index=pd.Index([describe(n, v) for n, v in evidence.items], name="evidence"),
                         columns=columns)
    spread = (frame.max(axis=1) - frame.min(axis=1)).rename("spread")
    frame = frame.loc[spread.sort_values(ascending=False, kind="stable").index]
    frame.attrs.update(spread=spread.loc[frame.index],
                       prior_log_odds=pd.Series(log_odds[:, 0], index=columns, name="prior_log_odds"),
                       posterior_log_odds=pd.Series(log_odds[:, k], index=columns, name="posterior_log_odds"))
    return frame


def _expit(x: float) -> float:
    """1 / (1 + exp(-x)), without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + np.exp(-x))
    z = np.exp(x)
    return z / (1.0 + z)
