"""The network's new node kinds against brute force over the model's own tables.

Ordered findings (a leaky noisy-MAX) enter the engine as binary rows, and the population (some
presenting finding present) as a rule on the evidence; brute force enumerates the full noisy-MAX
tables and sums the population's condition explicitly, sharing nothing with that translation.
"""
from __future__ import annotations

import numpy as np
import pytest

from bayesnet.inference import pgmpy_bridge
from bayesnet.inference.engine import ExactEngine, ParameterBatch, query_parameter_batch
from bayesnet.inference.evidence import encode_evidence
from bayesnet.knowledge.network import derive_rows
from bayesnet.analysis.parameters import batch_with_one_changed, covary
from bayesnet.knowledge.network import ParameterLocation

from bruteforce import brute_force_items, random_items, random_network_with_kinds

TOLERANCE = 1e-9


def answer(network, evidence):
    return ExactEngine(network).query(encode_evidence(network, evidence))


@pytest.mark.parametrize("seed", range(12))
def test_ordered_and_presenting_findings_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    network = random_network_with_kinds(rng, n_conditions=5, ordered_states=(3, 4), presenting=2 + seed % 2)
    for _ in range(6):
        evidence = random_items(rng, network)
        total, posterior = brute_force_items(network, evidence)
        result = answer(network, evidence)
        if total == 0:
            assert result.log_evidence == -np.inf
            continue
        assert result.log_evidence == pytest.approx(np.log(total), abs=TOLERANCE)
        np.testing.assert_allclose(result.posterior, posterior, rtol=0, atol=TOLERANCE)


def test_an_ordered_state_is_one_fact_whatever_else_is_said():
    """P(two states of one ordered finding) is zero: the noisy-MAX table is a distribution."""
    rng = np.random.default_rng(3)
    network = random_network_with_kinds(rng)
    finding = network.ordered[0]
    table = finding.table()
    np.testing.assert_allclose(table.sum(axis=0), 1.0, rtol=0, atol=1e-12)
    # observing a state equals a likelihood vector that is one at that state
    for s, state in enumerate(finding.states):
        hard = answer(network, {finding.name: state})
        soft = answer(network, {finding.name: list(np.eye(len(finding.states))[s])})
        np.testing.assert_allclose(hard.posterior, soft.posterior, rtol=0, atol=1e-12)


def test_each_cause_alone_reproduces_its_distribution():
    rng = np.random.default_rng(5)
    network = random_network_with_kinds(rng, presenting=0)
    n = len(network.conditions)
    for finding in network.ordered:
        for j in finding.parents:
            alone = {c: ("present" if i == j else "absent") for i, c in enumerate(network.conditions)}
            base = answer(network, alone).log_evidence
            probs = [np.exp(answer(network, {**alone, finding.name: s}).log_evidence - base) for s in finding.states]
            expected = np.diff(np.concatenate([[0.0], np.cumsum(finding.leak) * np.cumsum(finding.cause[j])]))
            np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-12)
        assert n == len(finding.cause)


def test_lowest_presenting_states_together_are_impossible():
    rng = np.random.default_rng(7)
    network = random_network_with_kinds(rng, presenting=2)
    result = answer(network, {"p0": "absent", "p1": "absent"})
    assert result.log_evidence == -np.inf
    one_open = answer(network, {"p0": "absent"})
    forced = answer(network, {"p0": "absent", "p1": "present"})
    assert one_open.log_evidence == pytest.approx(forced.log_evidence, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_pgmpy_with_chained_tables_equals_the_engine(seed, monkeypatch):
    monkeypatch.setattr(pgmpy_bridge, "CHAIN_LIMIT", 2)   # every finding with 3+ causes goes through the chain
    rng = np.random.default_rng(40 + seed)
    network = random_network_with_kinds(rng, n_conditions=5)
    model = pgmpy_bridge.to_pgmpy(network)
    for _ in range(3):
        evidence = random_items(rng, network, soft=0.0)
        encoded = encode_evidence(network, evidence)
        result = ExactEngine(network).query(encoded)
        if not np.isfinite(result.log_evidence):
            continue
        reference = pgmpy_bridge.variable_elimination(model, network, encoded)
        np.testing.assert_allclose(result.posterior, [reference[c] for c in network.conditions], rtol=0, atol=TOLERANCE)


def test_parameter_batches_of_ordered_numbers_equal_rebuilt_networks():
    rng = np.random.default_rng(11)
    network = random_network_with_kinds(rng)
    evidence = encode_evidence(network, {"o0": "s1", "o1": "s3", "p1": "present"})
    finding = network.ordered[0]
    j = finding.parents[0]
    locations = [ParameterLocation("ordered_leak", (0, 1)), ParameterLocation("ordered_link", (0, j, 2))]
    values = np.array([0.3, 0.6])
    batch = batch_with_one_changed(network, locations, values)
    log_z, posterior = query_parameter_batch(network, batch, evidence)
    leak = covary(finding.leak, 1, 0.3)
    cause = finding.cause.copy()
    cause[j] = covary(finding.cause[j], 2, 0.6)
    rebuilt = [network.with_ordered([(leak, finding.cause), *[(o.leak, o.cause) for o in network.ordered[1:]]]),
               network.with_ordered([(finding.leak, cause), *[(o.leak, o.cause) for o in network.ordered[1:]]])]
    for row, other in enumerate(rebuilt):
        total, expected = brute_force_items(other, {"o0": "s1", "o1": "s3", "p1": "present"})
        assert log_z[row] == pytest.approx(np.log(total), abs=TOLERANCE)
        np.testing.assert_allclose(posterior[row], expected, rtol=0, atol=TOLERANCE)


def test_population_rows_follow_a_changed_presenting_link():
    rng = np.random.default_rng(13)
    network = random_network_with_kinds(rng, presenting=2)
    batch = ParameterBatch.repeat(network, 1)
    batch.link[0, 0, :] = np.where(batch.link[0, 0] > 0, 0.5, 0.0)
    derive_rows(network, batch.link, batch.finding_leak)
    changed = network.with_parameters(link=batch.link[0], finding_leak=batch.finding_leak[0])
    total, expected = brute_force_items(changed, {})
    log_z, posterior = query_parameter_batch(network, batch, encode_evidence(network, {}))
    assert log_z[0] == pytest.approx(np.log(total), abs=TOLERANCE)
    np.testing.assert_allclose(posterior[0], expected, rtol=0, atol=TOLERANCE)
