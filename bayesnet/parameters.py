"""The knowledge base's parameters on the network's native scale, and parameter sets built from them.

A :class:`~bayesnet.knowledge.Parameter` record is written as a clinician reads it; the engine
multiplies *native* numbers (:mod:`bayesnet.network`). This module maps one to the other and builds
:class:`~bayesnet.engine.ParameterBatch` es (many parameter sets at once) for sensitivity analysis.

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

Co-variation
------------
Changing a context prior entry from ``x0`` to ``x`` scales the node's other entries
proportionally, ``theta_t(x) = theta_t * (1 - x) / (1 - x0)``, so they still sum to one (if
``x0 = 1`` the others share ``1 - x`` equally). Every other native parameter has no siblings: it
changes alone.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .engine import ParameterBatch
from .knowledge import BINARY, Parameter
from .network import NoisyOrNetwork, ParameterLocation, link_from_value

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
        leak = leaks.get(p.node) if p.role in ("link", "risk_factor") else None
        rows.append({
            "parameter": p.name, "role": p.role, "kind": p.kind, "node": p.node, "parent": p.parent,
            "state": p.state, "value": p.value, "low": p.low, "high": p.high,
            "leak": np.nan if leak is None else leak, "x0": native_at(network, loc),
            "x_low": float(native_value(p, p.low, leak)), "x_high": float(native_value(p, p.high, leak)),
            "n": p.n, "N": p.N,
        })
    frame = pd.DataFrame(rows, columns=["parameter", *TABLE_COLUMNS]).set_index("parameter")
    frame["n"] = frame["n"].astype("Int64")
    frame["N"] = frame["N"].astype("Int64")
    return frame


def native_at(network: NoisyOrNetwork, location: ParameterLocation) -> float:
    """The native value at ``location`` in ``network``'s arrays."""
    idx = location.index
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


def batch_with_one_changed(network: NoisyOrNetwork, locations: Sequence[ParameterLocation],
                           values: np.ndarray) -> ParameterBatch:
    """Row ``r`` is the network with parameter ``locations[r]`` set to native ``values[r]`` (co-varied)."""
    batch = ParameterBatch.repeat(network, len(locations))
    for row, (loc, x) in enumerate(zip(locations, values)):
        idx = loc.index
        if loc.array == "context_prior":
            batch.context_prior[idx[0]][row] = covary(network.context_prior[idx[0]], idx[1], x)
        elif loc.array == "risk":
            batch.risk[idx[0]][(row, *idx[1:])] = x
        else:
            getattr(batch, loc.array)[(row, *idx)] = x
    return batch


def batch_from_records(network: NoisyOrNetwork, parameters: Sequence[Parameter],
                       locations: Sequence[ParameterLocation], values: np.ndarray) -> ParameterBatch:
    """Parameter sets from record values: ``values[b, r]`` is the reading of ``parameters[r]`` in set ``b``.

    Each set is compiled as :func:`~bayesnet.network.compile_knowledge` compiles the knowledge base:
    links ``p = 1 - (1 - v) / (1 - L)`` with the same set's leak ``L`` (clipped at 0 when a drawn
    value falls below its drawn leak); a binary context node gets ``[1 - x, x]``; the entries of a
    multi-state context node are rescaled to sum to what the point values sum to. Values equal to the
    records' own give arrays identical to the network's.
    """
    values = np.asarray(values, float)
    size = values.shape[0]
    batch = ParameterBatch.repeat(network, size)
    leak_column = {p.node: r for r, p in enumerate(parameters) if p.role in ("condition_leak", "finding_leak")}
    prior_columns: dict[int, list[tuple[int, int]]] = {}
    for r, (p, loc) in enumerate(zip(parameters, locations)):
        idx, column = loc.index, values[:, r]
        if p.role == "context_prior":
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
    return batch
