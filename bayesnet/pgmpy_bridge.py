"""Everything that touches pgmpy: building its network, its reference inference, and file export.

pgmpy renames things between versions, so no other module imports it. The network handed to pgmpy
is made of plain :class:`~pgmpy.factors.discrete.TabularCPD` tables expanded from the noisy-OR
parameters, each column checked to sum to 1 within 1e-9 before pgmpy sees it.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .evidence import EncodedEvidence
from .network import COLUMN_TOLERANCE, NoisyOrNetwork

__all__ = ["to_pgmpy", "variable_elimination", "write_network", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("bif", "xmlbif")


def _quiet():
    """pgmpy warns about its own deprecations on import; they are not the user's concern."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    return context


def to_pgmpy(network: NoisyOrNetwork):
    """The network as a checked ``pgmpy.models.DiscreteBayesianNetwork`` of ``TabularCPD`` tables."""
    quiet = _quiet()
    try:
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.models import DiscreteBayesianNetwork
    finally:
        quiet.__exit__(None, None, None)

    binary = ["absent", "present"]
    edges, cpds = [], []
    model = DiscreteBayesianNetwork()
    model.add_nodes_from([*network.context, *network.conditions, *network.findings])
    for k, name in enumerate(network.context):
        states = list(network.context_states[k])
        prior = np.asarray(network.context_prior[k], float).reshape(-1, 1)
        cpds.append(TabularCPD(name, len(states), prior, state_names={name: states}))
    for j, name in enumerate(network.conditions):
        parents = [network.context[k] for k in network.risk_parents[j]]
        edges += [(p, name) for p in parents]
        cpds.append(_cpd(TabularCPD, name, network.condition_table(j), parents,
                         {p: list(network.states(p)) for p in parents}))
    for i, name in enumerate(network.findings):
        parents = [network.conditions[j] for j in network.finding_parents[i]]
        edges += [(p, name) for p in parents]
        cpds.append(_cpd(TabularCPD, name, network.finding_table(i), parents, {p: binary for p in parents}))
    model.add_edges_from(edges)
    model.add_cpds(*cpds)
    return model


def _cpd(TabularCPD, name: str, table: np.ndarray, parents: list[str], parent_states: dict[str, list[str]]):
    values = table.reshape(table.shape[0], -1)
    worst = float(np.max(np.abs(values.sum(axis=0) - 1.0)))
    if worst > COLUMN_TOLERANCE:
        raise ValueError(f"the table of {name} has a column summing to 1 {worst:+.2e}")
    return TabularCPD(
        name, values.shape[0], values,
        evidence=parents or None,
        evidence_card=[len(parent_states[p]) for p in parents] or None,
        state_names={name: ["absent", "present"], **parent_states},
    )


def variable_elimination(model, network: NoisyOrNetwork, evidence: EncodedEvidence,
                         targets: Sequence[str] | None = None) -> dict[str, float]:
    """P(target present | evidence) by pgmpy's ``VariableElimination``: the reference engine.

    Hard evidence goes in as states, soft evidence as pgmpy virtual evidence.
    """
    quiet = _quiet()
    try:
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.inference import VariableElimination

        hard: dict[str, str] = {}
        virtual = []
        for node, value in evidence.items:
            states = list(network.states(node))
            if isinstance(value, str):
                hard[node] = value
            else:
                lik = _vector(network, evidence, node)
                virtual.append(TabularCPD(node, len(states), (lik / lik.sum()).reshape(-1, 1), state_names={node: states}))
        engine = VariableElimination(model)
        out = {}
        for target in targets or network.conditions:
            if target in hard:
                out[target] = float(hard[target] == "present")
                continue
            factor = engine.query([target], evidence=hard or None, virtual_evidence=virtual or None,
                                  show_progress=False)
            out[target] = float(factor.get_value(**{target: "present"}))
        return out
    finally:
        quiet.__exit__(None, None, None)


def _vector(network: NoisyOrNetwork, evidence: EncodedEvidence, node: str) -> np.ndarray:
    if node in network.context:
        return evidence.context[network.context.index(node)]
    if node in network.conditions:
        return evidence.conditions[network.conditions.index(node)]
    return evidence.findings[network.findings.index(node)]


def write_network(model, path: str | Path, format: str) -> None:
    """Write ``model`` as BIF (``bif``) or XMLBIF (``xmlbif``) for other Bayesian-network tools.

    XMLBIF keeps every number at full double precision; BIF readers such as pyAgrum parse numbers
    as 32-bit floats, so compare answers through XMLBIF when 1e-9 matters.
    """
    quiet = _quiet()
    try:
        from pgmpy.readwrite import BIFWriter, XMLBIFWriter

        if format == "bif":
            BIFWriter(model).write(str(path))
        elif format == "xmlbif":
            XMLBIFWriter(model).write(str(path))
        else:
            raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    finally:
        quiet.__exit__(None, None, None)
