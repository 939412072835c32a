"""The knowledge base's parameters on the network's native scale, and parameter sets built from them.

A :class:`~bayesnet.knowledge.base.Parameter` record is written as a clinician reads it; the engine
multiplies *native* numbers (:mod:`bayesnet.knowledge.network`). This module maps one to the other and builds
:class:`~bayesnet.inference.engine.ParameterBatch` es (many parameter sets at once) for sensitivity analysis.

Native value of each role
-------------------------
``context_prior``
    The prior entry P(k = s) itself. A binary context node's record is its ``present`` entry and
    P(absent) = 1 - x.
``condition_leak``, ``finding_leak``
    The leak itself.
``risk_factor``, ``link``
    The noisy-OR link ``p = 1 - (1 - v) / (1 - L)`` for the record's value ``v`` (P(effect | this
    cause alone), leak included) and the point value ``L`` of the effect's leak. A ``low`` below the
    leak would give a negative link: it is clipped to 0 (the cause then adds nothing).

Ordered findings (noisy-MAX)
    A leak record's native value is the leak's entry ``L(s)``, with the causes' own distributions
    fixed. A link record's native value is the cause's own entry ``c_j(s)`` (what the condition
    produces alone, leak aside), with the leak fixed; its reading ``P(s | this cause alone)`` maps
    to it through ``C_j(<= t) = T_j(<= t) / L(<= t)``. Both are co-varied with their siblings.

Co-variation
------------
Changing a context prior entry from ``x0`` to ``x`` scales the node's other entries
proportionally, ``theta_t(x) = theta_t * (1 - x) / (1 - x0)``, so they still sum to one (if
``x0 = 1`` the others share ``1 - x`` equally). Every other native parameter has no siblings: it
changes alone. An ordered finding's entries are co-varied in the same way, within the leak's
distribution or within one cause's own distribution. Every parameter set is completed by
:func:`~bayesnet.knowledge.network.derive_rows`: the engine rows of the ordered findings and of the
population follow the native numbers.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from bayesnet.inference.engine import ParameterBatch
from bayesnet.knowledge.base import BINARY, Parameter
from bayesnet.knowledge.network import (NoisyOrNetwork, ParameterLocation, alone_from_cause, cause_from_alone, derive_rows,
                      link_from_value)

__all__ = ["parameter_table", "native_at", "native_value", "record_value", "covary", "batch_with_one_changed",
           "batch_from_records"]

TABLE_COLUMNS = ["role", "kind", "node", "parent", "state", "value", "low", "high", "leak", "x0", "x_low", "x_high",
                 "n", "N"]


def _effect_leaks(parameters: Sequence[Parameter]) -> dict[str, float]:
    return {p.node: p.value for p in parameters if p.role in ("condition_leak", "finding_leak")}


def native_value(parameter: Parameter, value: float | np.ndarray, leak: float | np.ndarray | None) -> np.ndarray:
    """The native value of ``parameter`` when its record reads ``value`` (``leak``: the effect's leak).

    Links and risk factors map through ``p = 1 - (1 - value) / (1 - leak)``, clipped to ``[0, 1]``;
    every other role is native as written.
    """
    if parameter.role in ("link", "risk_factor"):
        if leak is None:
            raise ValueError(f"{parameter.name}: a link needs its effect's leak")
        return np.clip(link_from_value(np.asarray(value, float), leak), 0.0, 1.0)
    return np.asarray(value, float)


def record_value(parameter: Parameter, x: float | np.ndarray, leak: float | None) -> np.ndarray:
    """The record's reading (P(effect | cause alone) for links) of native value ``x``."""
    if parameter.role in ("link", "risk_factor"):
        return 1.0 - (1.0 - np.asarray(leak, float)) * (1.0 - np.asarray(x, float))
    return np.asarray(x, float)


def parameter_table(parameters: Sequence[Parameter], locations: Sequence[ParameterLocation],
                    network: NoisyOrNetwork) -> pd.DataFrame:
    """One row per parameter: its record (value, low, high, kind) and its native ``x0, x_low, x_high``.

    ``x0`` is read from the network's arrays, so it is exactly what the engine uses; ``leak`` is the
    effect's leak for links and risk factors (NaN otherwise). Indexed by the parameter's name.
    """
    leaks = _effect_leaks(parameters)
    rows = []
    for p, loc in zip(parameters, locations):
        leak = leaks.get(p.node) if p.role in ("link", "risk_factor") and p.state is None else None
        if loc.array.startswith("ordered"):
            x_low, x_high = (_ordered_native(network, loc, v) for v in (p.low, p.high))
        else:
            x_low, x_high = float(native_value(p, p.low, leak)), float(native_value(p, p.high, leak))
        rows.append({
            "parameter": p.name, "role": p.role, "kind": p.kind, "node": p.node, "parent": p.parent,
            "state": p.state, "value": p.value, "low": p.low, "high": p.high,
            "leak": np.nan if leak is None else leak, "x0": native_at(network, loc),
            "x_low": x_low, "x_high": x_high, "n": p.n, "N": p.N,
        })
    frame = pd.DataFrame(rows, columns=["parameter", *TABLE_COLUMNS]).set_index("parameter")
    frame["n"] = frame["n"].astype("Int64")
    frame["N"] = frame["N"].astype("Int64")
    return frame


def native_at(network: NoisyOrNetwork, location: ParameterLocation) -> float:
    """The native value at ``location`` in ``network``'s arrays."""
    idx = location.index
    if location.array == "ordered_leak":
        return float(network.ordered[idx[0]].leak[idx[1]])
    if location.array == "ordered_link":
        return float(network.ordered[idx[0]].cause[idx[1], idx[2]])
    if location.array == "context_prior":
        return float(network.context_prior[idx[0]][idx[1]])
    if location.array == "risk":
        return float(network.risk[idx[0]][idx[1:]])
    return float(getattr(network, location.array)[idx])


def covary(prior: np.ndarray, state: int, x: float | np.ndarray) -> np.ndarray:
    """A prior vector with entry ``state`` set to ``x`` and the others scaled to sum to one.

    ``x`` may be an array of shape ``(B,)``; the result is then ``(B, states)``.
    """
    prior = np.asarray(prior, float)
    x = np.asarray(x, float)
    rest = 1.0 - prior[state]
    if rest > 0:
        out = prior * ((1.0 - x) / rest)[..., None]
    else:
        out = np.broadcast_to(((1.0 - x) / (len(prior) - 1))[..., None], (*x.shape, len(prior))).copy()
    out[..., state] = x
    return out


def _ordered_native(network: NoisyOrNetwork, location: ParameterLocation, reading: float) -> float:
    """The native value of an ordered finding's record when it reads ``reading``."""
    idx = location.index
    finding = network.ordered[idx[0]]
    if location.array == "ordered_leak":
        return float(reading)
    j, state = idx[1], idx[2]
    alone = alone_from_cause(finding.cause[j:j + 1], finding.leak)
    alone = covary(alone[0], state, reading)[None]
    return float(cause_from_alone(alone, finding.leak)[0, state])


def _ordered_natives(network: NoisyOrNetwork, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``size`` copies of every ordered finding's ``(leak, cause)``."""
    return [(np.repeat(o.leak[None], size, axis=0), np.repeat(o.cause[None], size, axis=0)) for o in network.ordered]


def batch_with_one_changed(network: NoisyOrNetwork, locations: Sequence[ParameterLocation],
                           values: np.ndarray) -> ParameterBatch:
    """Row ``r`` is the network with parameter ``locations[r]`` set to native ``values[r]`` (co-varied)."""
    batch = ParameterBatch.repeat(network, len(locations))
    ordered = _ordered_natives(network, len(locations))
    for row, (loc, x) in enumerate(zip(locations, values)):
        idx = loc.index
        if loc.array == "ordered_leak":
            leak = ordered[idx[0]][0]
            leak[row] = covary(network.ordered[idx[0]].leak, idx[1], x)
        elif loc.array == "ordered_link":
            cause = ordered[idx[0]][1]
            cause[row, idx[1]] = covary(network.ordered[idx[0]].cause[idx[1]], idx[2], x)
        elif loc.array == "context_prior":
            batch.context_prior[idx[0]][row] = covary(network.context_prior[idx[0]], idx[1], x)
        elif loc.array == "risk":
            batch.risk[idx[0]][(row, *idx[1:])] = x
        else:
            getattr(batch, loc.array)[(row, *idx)] = x
    derive_rows(network, batch.link, batch.finding_leak, ordered)
    return batch


def batch_from_records(network: NoisyOrNetwork, parameters: Sequence[Parameter],
                       locations: Sequence[ParameterLocation], values: np.ndarray) -> ParameterBatch:
    """Parameter sets from record values: ``values[b, r]`` is the reading of ``parameters[r]`` in set ``b``.

    Each set is compiled as :func:`~bayesnet.knowledge.network.compile_knowledge` compiles the knowledge base:
    links ``p = 1 - (1 - v) / (1 - L)`` with the same set's leak ``L`` (clipped at 0 when a drawn
    value falls below its drawn leak); a binary context node gets ``[1 - x, x]``; the entries of a
    multi-state context node are rescaled to sum to what the point values sum to. Values equal to the
    records' own give arrays identical to the network's.
    """
    values = np.asarray(values, float)
    size = values.shape[0]
    batch = ParameterBatch.repeat(network, size)
    leak_column = {p.node: r for r, p in enumerate(parameters)
                   if p.role in ("condition_leak", "finding_leak") and p.state is None}
    prior_columns: dict[int, list[tuple[int, int]]] = {}
    ordered_leak = [np.repeat(complete_upper(o.leak)[None], size, axis=0) for o in network.ordered]
    ordered_alone = [np.repeat(alone_from_cause(o.cause, o.leak)[None], size, axis=0) for o in network.ordered]
    for r, (p, loc) in enumerate(zip(parameters, locations)):
        idx, column = loc.index, values[:, r]
        if loc.array == "ordered_leak":
            ordered_leak[idx[0]][:, idx[1]] = column
        elif loc.array == "ordered_link":
            ordered_alone[idx[0]][:, idx[1], idx[2]] = column
        elif p.role == "context_prior":
            prior_columns.setdefault(idx[0], []).append((idx[1], r))
        elif p.role in ("condition_leak", "finding_leak"):
            getattr(batch, loc.array)[(slice(None), *idx)] = column
        else:
            native = np.maximum(link_from_value(column, values[:, leak_column[p.node]]), 0.0)
            if loc.array == "risk":
                batch.risk[idx[0]][(slice(None), *idx[1:])] = native
            else:
                batch.link[(slice(None), *idx)] = native
    for k, entries in prior_columns.items():
        target = batch.context_prior[k]
        if network.context_states[k] == BINARY:
            (state, r), = entries
            target[:, state] = values[:, r]
            target[:, 1 - state] = 1.0 - values[:, r]
        else:
            states = [s for s, _ in entries]
            drawn = values[:, [r for _, r in entries]]
            point = network.context_prior[k][states].sum()
            total = drawn.sum(axis=1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                target[:, states] = drawn * np.where(total > 0, point / total, 0.0)
    ordered = []
    for finding, leak, alone in zip(network.ordered, ordered_leak, ordered_alone):
        leak = _renormalised(leak)
        parent = np.zeros(len(network.conditions), dtype=bool)
        parent[list(finding.parents)] = True
        at_leak = parent[:, None] & ~finding.given                    # states without a record follow the leak
        alone = np.where(at_leak[None], leak[:, None, :], alone)
        alone = _renormalised(alone)
        ordered.append((leak, cause_from_alone(alone, leak)))
    derive_rows(network, batch.link, batch.finding_leak, ordered)
    return replace(batch, ordered=tuple(ordered))


def complete_upper(distribution: np.ndarray) -> np.ndarray:
    """A distribution's entries above the lowest state, with the lowest set to the complement."""
    out = np.array(distribution, float)
    out[..., 0] = 1.0 - out[..., 1:].sum(axis=-1)
    return out


def _renormalised(distribution: np.ndarray) -> np.ndarray:
    """The lowest state as the complement of the others; draws whose other entries sum past 1 scaled down."""
    upper = distribution[..., 1:]
    total = upper.sum(axis=-1, keepdims=True)
    upper = np.where(total > 1.0, upper / np.maximum(total, 1e-300), upper)
    return np.concatenate([1.0 - upper.sum(axis=-1, keepdims=True), upper], axis=-1)
