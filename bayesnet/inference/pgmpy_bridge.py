"""Everything that touches pgmpy: building its network, its reference inference, and file export.

pgmpy renames things between versions, so no other module imports it. The network handed to pgmpy
is made of plain :class:`~pgmpy.factors.discrete.TabularCPD` tables expanded from the noisy-OR and
noisy-MAX parameters (never the engine's derived rows), each column checked to sum to 1 within
1e-9 before pgmpy sees it.

* A finding with at most :data:`CHAIN_LIMIT` causes gets its full table.
* A finding with more causes is a chain of small tables, exactly the noisy-MAX's definition: a node
  ``F__leak`` with the leak's distribution, a node ``F__<cause>`` per cause (its own distribution
  when the cause is present, the lowest state when absent), and deterministic maxima
  ``F__max<k>`` of the chain so far, the last of which is ``F`` itself.
* The population is a node :data:`POPULATION`, present exactly when some presenting finding is
  present; the reference queries observe it present, as the engine does.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bayesnet.inference.evidence import EncodedEvidence, likelihood
from bayesnet.knowledge.network import COLUMN_TOLERANCE, NoisyOrNetwork

__all__ = ["to_pgmpy", "variable_elimination", "write_network", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("bif", "xmlbif")
#: findings with more causes than this are exported as a chain of small tables
CHAIN_LIMIT = 8
#: the node that stands for the population's condition (some presenting finding present)
POPULATION = "population"


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
    tables: list[tuple[str, np.ndarray, list[str], dict[str, list[str]]]] = []   # name, table, parents, states
    for k, name in enumerate(network.context):
        prior = np.asarray(network.context_prior[k], float)
        tables.append((name, prior, [], {name: list(network.context_states[k])}))
    for j, name in enumerate(network.conditions):
        parents = [network.context[k] for k in network.risk_parents[j]]
        tables.append((name, network.condition_table(j), parents,
                       {name: binary, **{p: list(network.states(p)) for p in parents}}))
    for i in range(network.binary_count):
        link = network.link[i]
        causes = np.stack([1.0 - link, link], axis=1)
        leak = np.array([1.0 - network.finding_leak[i], network.finding_leak[i]])
        tables += _finding_tables(network, network.findings[i], binary, list(network.finding_parents[i]), leak,
                                  causes, lambda i=i: network.finding_table(i))
    for finding in network.ordered:
        tables += _finding_tables(network, finding.name, list(finding.states), list(finding.parents), finding.leak,
                                  finding.cause, finding.table)
    if network.presenting:
        members = [network.findings[i] for i in network.presenting]
        table = np.zeros((2,) + (2,) * len(members))
        table[(0,) + (0,) * len(members)] = 1.0
        table[1] = 1.0 - table[0]
        tables.append((POPULATION, table, members, {POPULATION: binary, **{m: binary for m in members}}))

    model = DiscreteBayesianNetwork()
    model.add_nodes_from([name for name, *_ in tables])
    model.add_edges_from([(p, name) for name, _, parents, _ in tables for p in parents])
    model.add_cpds(*(_cpd(TabularCPD, name, table, parents, states) for name, table, parents, states in tables))
    return model


def _finding_tables(network: NoisyOrNetwork, name: str, states: list[str], parents: list[int], leak: np.ndarray,
                    causes: np.ndarray, full) -> list:
    """The tables of one finding: its full table, or the chain of small tables (module docstring)."""
    condition_states = {network.conditions[j]: ["absent", "present"] for j in parents}
    if len(parents) <= CHAIN_LIMIT:
        return [(name, full(), [network.conditions[j] for j in parents], {name: states, **condition_states})]
    K = len(states)
    lowest = np.eye(K)[0]
    tables = [(f"{name}__leak", np.asarray(leak, float), [], {f"{name}__leak": states})]
    for j in parents:
        node, cause = f"{name}__{network.conditions[j]}", network.conditions[j]
        tables.append((node, np.stack([lowest, causes[j]], axis=1), [cause], {node: states, cause: ["absent", "present"]}))
    maximum = np.zeros((K, K, K))
    for a in range(K):
        for b in range(K):
            maximum[max(a, b), a, b] = 1.0
    previous = f"{name}__leak"
    for position, j in enumerate(parents):
        node = name if position == len(parents) - 1 else f"{name}__max{position + 1}"
        contribution = f"{name}__{network.conditions[j]}"
        tables.append((node, maximum, [previous, contribution], {node: states, previous: states, contribution: states}))
        previous = node
    return tables


def _cpd(TabularCPD, name: str, table: np.ndarray, parents: list[str], states: dict[str, list[str]]):
    values = np.asarray(table, float).reshape(table.shape[0], -1)
    worst = float(np.max(np.abs(values.sum(axis=0) - 1.0)))
    if worst > COLUMN_TOLERANCE:
        raise ValueError(f"the table of {name} has a column summing to 1 {worst:+.2e}")
    return TabularCPD(
        name, values.shape[0], values,
        evidence=parents or None,
        evidence_card=[len(states[p]) for p in parents] or None,
        state_names=states,
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

        hard: dict[str, str] = {POPULATION: "present"} if network.presenting else {}
        virtual = []
        for node, value in evidence.items:
            states = list(network.states(node))
            if isinstance(value, str) and value in states:
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
    """The likelihood vector an evidence item gave ``node`` (over the node's own states)."""
    return likelihood(node, network.states(node), dict(evidence.items)[node])


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
