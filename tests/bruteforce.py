"""Brute-force enumeration of a NoisyOrNetwork's joint distribution, and random small networks.

Used by the tests as an independent reference: it multiplies the full conditional probability
tables over every joint state and shares no code with the engine but the tables themselves.
"""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from bayesnet.inference.evidence import EncodedEvidence
from bayesnet.knowledge.network import NoisyOrNetwork


def brute_force(network: NoisyOrNetwork, evidence: EncodedEvidence) -> tuple[float, np.ndarray]:
    """P(evidence) and P(condition present | evidence) by summing the joint over every state."""
    n, m = len(network.conditions), len(network.findings)
    condition_tables = [network.condition_table(j) for j in range(n)]
    finding_tables = [network.finding_table(i) for i in range(m)]
    total = 0.0
    present = np.zeros(n)
    for ctx in itertools.product(*(range(len(s)) for s in network.context_states)):
        w_ctx = np.prod([network.context_prior[k][s] * evidence.context[k][s] for k, s in enumerate(ctx)])
        if w_ctx == 0:
            continue
        for d in itertools.product((0, 1), repeat=n):
            w = w_ctx
            for j in range(n):
                w *= condition_tables[j][(d[j], *(ctx[k] for k in network.risk_parents[j]))] * evidence.conditions[j, d[j]]
            if w == 0:
                continue
            for i in range(m):
                table = finding_tables[i][(slice(None), *(d[j] for j in network.finding_parents[i]))]
                w *= table @ evidence.findings[i]
            total += w
            present += w * np.asarray(d)
    return total, present / total if total > 0 else np.full(n, np.nan)


def random_network(rng: np.random.Generator, n_conditions: int = 5, n_findings: int = 6,
                   extreme: bool = False) -> NoisyOrNetwork:
    """A random three-layer noisy-OR network; ``extreme`` puts probabilities near 0 and 1."""
    def prob(size):
        if extreme:
            return rng.choice([1e-9, 1e-4, 0.3, 1 - 1e-4, 1 - 1e-9], size=size)
        return rng.uniform(0.01, 0.95, size=size)

    context = {"age": (["a", "b", "c"], rng.dirichlet(np.ones(3))), "hist": (["absent", "present"], None)}
    p = rng.uniform(0.05, 0.6)
    context["hist"] = (["absent", "present"], np.array([1 - p, p]))
    conditions = [f"c{j}" for j in range(n_conditions)]
    findings = [f"f{i}" for i in range(n_findings)]
    risk = {k: np.where(rng.random((n_conditions, len(s))) < 0.4, prob((n_conditions, len(s))), 0.0)
            for k, (s, _) in context.items()}
    link = np.where(rng.random((n_findings, n_conditions)) < 0.55, prob((n_findings, n_conditions)), 0.0)
    for i in range(n_findings):  # every finding has a cause
        if not link[i].any():
            link[i, rng.integers(n_conditions)] = prob(())
    leak_c = rng.uniform(0.001, 0.2, n_conditions) if not extreme else prob(n_conditions) * 0.5
    leak_f = rng.uniform(0.001, 0.2, n_findings) if not extreme else prob(n_findings) * 0.5
    return NoisyOrNetwork.from_arrays(context=context, conditions=conditions, condition_leak=leak_c, risk=risk,
                                      findings=findings, finding_leak=leak_f, link=link)


def brute_force_items(network: NoisyOrNetwork, evidence: dict) -> tuple[float, np.ndarray]:
    """P(evidence, population) and P(condition present | evidence) from the *model's* tables.

    Findings are the binary findings' noisy-OR tables and the ordered findings' full noisy-MAX
    tables (:meth:`~bayesnet.knowledge.network.OrderedFinding.table`), never the engine's derived rows; the
    population's condition (some presenting finding present) is summed explicitly.
    """
    from bayesnet.inference.evidence import likelihood

    n = len(network.conditions)
    condition_tables = [network.condition_table(j) for j in range(n)]
    vectors = {node: likelihood(node, network.states(node), value) for node, value in evidence.items()
               if value is not None}
    ones = lambda k: np.ones(k)  # noqa: E731
    context_lik = [vectors.get(k, ones(len(s))) for k, s in zip(network.context, network.context_states)]
    condition_lik = [vectors.get(c, ones(2)) for c in network.conditions]
    plain = [(network.finding_table(i), network.finding_parents[i], vectors[network.findings[i]])
             for i in range(network.binary_count)
             if network.findings[i] in vectors and i not in network.presenting]
    plain += [(o.table(), o.parents, vectors[o.name]) for o in network.ordered if o.name in vectors]
    presenting = [(network.finding_table(i), network.finding_parents[i],
                   vectors.get(network.findings[i], ones(2))) for i in network.presenting]
    total = 0.0
    present = np.zeros(n)
    for ctx in itertools.product(*(range(len(s)) for s in network.context_states)):
        w_ctx = np.prod([network.context_prior[k][s] * context_lik[k][s] for k, s in enumerate(ctx)])
        if w_ctx == 0:
            continue
        for d in itertools.product((0, 1), repeat=n):
            w = w_ctx
            for j in range(n):
                w *= condition_tables[j][(d[j], *(ctx[k] for k in network.risk_parents[j]))] * condition_lik[j][d[j]]
            for table, parents, lam in plain:
                w *= table[(slice(None), *(d[j] for j in parents))] @ lam
            if presenting:
                columns = [table[(slice(None), *(d[j] for j in parents))] * lam for table, parents, lam in presenting]
                w *= np.prod([c.sum() for c in columns]) - np.prod([c[0] for c in columns])
            total += w
            present += w * np.asarray(d)
    return total, present / total if total > 0 else np.full(n, np.nan)


def random_network_with_kinds(rng: np.random.Generator, n_conditions: int = 5, n_binary: int = 3,
                              ordered_states: tuple[int, ...] = (3, 4), presenting: int = 2) -> NoisyOrNetwork:
    """A random network with binary findings (the first ``presenting`` of them presenting) and
    ordered findings of the given numbers of states."""
    base = random_network(rng, n_conditions, n_binary + presenting)
    ordered = []
    for o, K in enumerate(ordered_states):
        leak = rng.dirichlet(np.r_[6.0, np.ones(K - 1)])
        cause = np.zeros((n_conditions, K))
        cause[:, 0] = 1.0
        parents = rng.random(n_conditions) < 0.6
        parents[rng.integers(n_conditions)] = True
        cause[parents] = rng.dirichlet(np.ones(K), size=int(parents.sum()))
        ordered.append((f"o{o}", [f"s{s}" for s in range(K)], leak, cause))
    m = len(base.findings)
    return NoisyOrNetwork.from_arrays(
        context={k: (list(s), p) for k, s, p in zip(base.context, base.context_states, base.context_prior)},
        conditions=list(base.conditions), condition_leak=base.condition_leak,
        risk=dict(zip(base.context, base.risk)), findings=[f"p{i}" for i in range(presenting)] + list(base.findings[presenting:]),
        finding_leak=base.finding_leak[:m], link=base.link[:m], ordered=ordered,
        presenting=[f"p{i}" for i in range(presenting)])


def random_items(rng: np.random.Generator, network: NoisyOrNetwork, observed: float = 0.6,
                 soft: float = 0.25) -> dict:
    """A random evidence mapping over every kind of node: states, and soft vectors for some."""
    evidence: dict = {}
    for node in [*network.context, *network.conditions, *network.vocabulary]:
        share = 0.15 if node in network.conditions else observed
        if rng.random() >= share:
            continue
        states = network.states(node)
        if rng.random() < soft:
            evidence[node] = list(rng.uniform(0.05, 1.0, len(states)))
        else:
            evidence[node] = states[int(rng.integers(len(states)))]
    return evidence


def exact(network: NoisyOrNetwork, likelihood: dict[str, list]) -> tuple[Fraction, list[Fraction]]:
    """P(evidence) and P(condition present | evidence) in exact rational arithmetic.

    ``likelihood`` maps a node to one likelihood per state (any numbers; each is taken as the exact
    value of its float), so the answer does not depend on how a vector is scaled or how small its
    entries are. The tables' floats are taken exactly too. Unobserved nodes are left out.
    """
    n, m = len(network.conditions), len(network.findings)
    context = [[Fraction(float(x)) for x in likelihood.get(k, [1] * len(s))]
               for k, s in zip(network.context, network.context_states)]
    conditions = [[Fraction(float(x)) for x in likelihood.get(c, [1, 1])] for c in network.conditions]
    findings = [[Fraction(float(x)) for x in likelihood.get(f, [1, 1])] for f in network.findings]
    condition_tables = [network.condition_table(j) for j in range(n)]
    finding_tables = [network.finding_table(i) for i in range(m)]
    total, present = Fraction(0), [Fraction(0)] * n
    for ctx in itertools.product(*(range(len(s)) for s in network.context_states)):
        w_ctx = Fraction(1)
        for k, s in enumerate(ctx):
            w_ctx *= Fraction(float(network.context_prior[k][s])) * context[k][s]
        if w_ctx == 0:
            continue
        for d in itertools.product((0, 1), repeat=n):
            w = w_ctx
            for j in range(n):
                table = condition_tables[j][(d[j], *(ctx[k] for k in network.risk_parents[j]))]
                w *= Fraction(float(table)) * conditions[j][d[j]]
                if w == 0:
                    break
            if w == 0:
                continue
            for i in range(m):
                table = finding_tables[i][(slice(None), *(d[j] for j in network.finding_parents[i]))]
                w *= Fraction(float(table[0])) * findings[i][0] + Fraction(float(table[1])) * findings[i][1]
            total += w
            present = [p + w * dj for p, dj in zip(present, d)]
    return total, [p / total for p in present] if total else []
