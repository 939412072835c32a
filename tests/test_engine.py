"""The exact engine against brute-force enumeration, pgmpy and pyAgrum, on every path it can take.

The engine answers evidence with the compiled kernel (:mod:`bayesnet.inference.kernel`): one evidence set, a
batch of cases, or one evidence set under a batch of parameter sets. Where the kernel declines, the
general vectorised path (:func:`bayesnet.inference.engine._evaluate` with :mod:`bayesnet.inference.sweep`) answers.
Every path is checked here, the general one also on queries the kernel would answer.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from bayesnet.inference.engine import (ExactEngine, ParameterBatch, _evaluate, _kernel_cut, _PAD, query_parameter_batch)
from bayesnet.inference.evidence import EncodedEvidence, EvidenceBatch, encode_evidence
from bayesnet.inference.kernel import ANSWERED, DECLINED
from bayesnet.knowledge.network import NoisyOrNetwork
from bruteforce import brute_force, random_network

EXTREME = [1e-9, 1e-4, 0.3, 1 - 1e-4, 1 - 1e-9]
TOLERANCE = 1e-9


# ---------------------------------------------------------------------------- helpers
def structured_network(rng: np.random.Generator, n: int, m: int, extreme: bool) -> NoisyOrNetwork:
    """A random network with 1-4 context nodes of 2-4 states; a condition has 0-3 context parents,
    so hubs, satellites, satellite groups of several states and plain enumeration all occur."""
    def prob(size=None):
        return rng.choice(EXTREME, size=size) if extreme else rng.uniform(0.01, 0.95, size=size)

    cards = [int(c) for c in rng.integers(2, 5, size=int(rng.integers(1, 5)))]
    context = {f"k{i}": ([f"s{t}" for t in range(c)], rng.dirichlet(np.ones(c))) for i, c in enumerate(cards)}
    risk = {k: np.zeros((n, len(states))) for k, (states, _) in context.items()}
    for j in range(n):
        for k in rng.choice(list(context), size=min(int(rng.integers(0, 4)), len(context)), replace=False):
            risk[k][j] = np.where(rng.random(len(context[k][0])) < 0.7, prob(len(context[k][0])), 0.0)
    link = np.where(rng.random((m, n)) < 0.5, prob((m, n)), 0.0)
    for i in range(m):
        if not link[i].any():
            link[i, rng.integers(n)] = prob()
    leak_c = prob(n) * 0.5 if extreme else rng.uniform(0.001, 0.2, n)
    leak_f = prob(m) * 0.5 if extreme else rng.uniform(0.001, 0.2, m)
    return NoisyOrNetwork.from_arrays(context=context, conditions=[f"c{j}" for j in range(n)], condition_leak=leak_c,
                                      risk=risk, findings=[f"f{i}" for i in range(m)], finding_leak=leak_f, link=link)


def random_evidence(rng: np.random.Generator, network: NoisyOrNetwork, positive: float = 0.35,
                    context: float = 0.5, conditions: float = 0.2) -> dict:
    """Hard and soft evidence on findings, context and conditions."""
    evidence: dict = {}
    for f in network.findings:
        r = rng.random()
        if r < positive:
            evidence[f] = "present"
        elif r < positive + 0.25:
            evidence[f] = "absent"
        elif r < positive + 0.4:
            evidence[f] = list(rng.uniform(0.0, 1.0, 2) + [0.0, 1e-3])
    for k, states in zip(network.context, network.context_states):
        r = rng.random()
        if r < context * 0.6:
            evidence[k] = states[rng.integers(len(states))]
        elif r < context:
            evidence[k] = list(rng.uniform(0.0, 1.0, len(states)) + 1e-3)
    for c in network.conditions:
        r = rng.random()
        if r < conditions / 3:
            evidence[c] = "present"
        elif r < 2 * conditions / 3:
            evidence[c] = "absent"
        elif r < conditions:
            evidence[c] = list(rng.uniform(0.1, 1.0, 2))
    return evidence


def general(engine: ExactEngine, encoded: EncodedEvidence) -> tuple[float, np.ndarray]:
    """The general vectorised path for one case (what answers when the kernel declines)."""
    log_evidence, posterior = _evaluate(engine.structure, engine._parameters,
                                        np.concatenate([*encoded.context, _PAD])[None], encoded.conditions[None],
                                        encoded.findings[None])
    return float(log_evidence[0]), posterior[0]


def kernel_status(engine: ExactEngine, encoded: EncodedEvidence) -> int:
    """What the compiled kernel does with one case: answers, finds it impossible, or declines."""
    return engine._kernel.one(np.concatenate([*encoded.context, _PAD]), encoded.conditions, encoded.findings)[0]


def assert_matches(log_evidence: float, posterior: np.ndarray, z: float, expected: np.ndarray) -> None:
    if z == 0:
        assert log_evidence == -math.inf and np.all(np.isnan(posterior))
        return
    np.testing.assert_allclose(posterior, expected, rtol=0, atol=TOLERANCE)
    assert abs(log_evidence - math.log(z)) <= TOLERANCE * max(1.0, abs(math.log(z)))


# ---------------------------------------------------------------------------- brute force
@pytest.mark.parametrize("seed", range(4))
def test_every_path_equals_brute_force_on_random_networks(seed):
    rng = np.random.default_rng(seed)
    kernel_answers = 0
    for trial in range(60):
        maker = structured_network if trial % 2 else (lambda r, n, m, e: random_network(r, n, m, e))
        network = maker(rng, int(rng.integers(1, 7)), int(rng.integers(1, 9)), trial % 3 == 0)
        engine = ExactEngine(network)
        encoded = encode_evidence(network, random_evidence(rng, network))
        z, expected = brute_force(network, encoded)
        answer = engine.query(encoded)
        assert_matches(answer.log_evidence, answer.posterior, z, expected)
        assert_matches(*general(engine, encoded), z, expected)
        kernel_answers += kernel_status(engine, encoded) == ANSWERED
    assert kernel_answers > 20  # the kernel answered most of them itself


def test_extreme_parameters_with_many_positive_findings():
    rng = np.random.default_rng(11)
    for trial in range(25):
        network = structured_network(rng, int(rng.integers(2, 6)), int(rng.integers(6, 11)), extreme=True)
        engine = ExactEngine(network)
        evidence = random_evidence(rng, network, positive=0.7, conditions=0.0)
        encoded = encode_evidence(network, evidence)
        z, expected = brute_force(network, encoded)
        answer = engine.query(encoded)
        assert_matches(answer.log_evidence, answer.posterior, z, expected)
        assert_matches(*general(engine, encoded), z, expected)


def test_context_unknown_known_and_soft_each_equal_brute_force():
    rng = np.random.default_rng(5)
    network = structured_network(rng, 5, 7, extreme=False)
    engine = ExactEngine(network)
    findings = {"f0": "present", "f1": "present", "f2": "absent", "f3": [0.3, 0.9]}
    contexts = [{}, {k: s[0] for k, s in zip(network.context, network.context_states)},
                {k: list(np.linspace(0.2, 1.0, len(s))) for k, s in zip(network.context, network.context_states)}]
    for context in contexts:
        encoded = encode_evidence(network, {**findings, **context})
        z, expected = brute_force(network, encoded)
        answer = engine.query(encoded)
        assert_matches(answer.log_evidence, answer.posterior, z, expected)


def test_underflow_is_avoided_by_exact_rescaling():
    """40 positive findings with leaks and links of 1e-12: P(evidence) is about 1e-470."""
    K, prior, tiny = 40, 1e-3, 1e-12
    network = NoisyOrNetwork.from_arrays(
        context={"k": (["a", "b"], np.array([0.5, 0.5]))}, conditions=["c"], condition_leak=np.array([prior]),
        risk={}, findings=[f"f{i}" for i in range(K)], finding_leak=np.full(K, tiny), link=np.full((K, 1), tiny))
    engine = ExactEngine(network)
    encoded = encode_evidence(network, {f"f{i}": "present" for i in range(K)})
    with_cause = -math.expm1(2 * math.log1p(-tiny))                             # P(f | c present)
    log_absent_part = math.log1p(-prior) + K * math.log(tiny)
    log_present_part = math.log(prior) + K * math.log(with_cause)
    log_z = max(log_absent_part, log_present_part) + math.log1p(math.exp(-abs(log_absent_part - log_present_part)))
    expected = math.exp(log_present_part - log_z)
    batch = engine.query_batch(EvidenceBatch.stack([encoded]))
    for log_evidence, posterior in [(engine.query(encoded).log_evidence, engine.query(encoded).posterior[0]),
                                    (general(engine, encoded)[0], general(engine, encoded)[1][0]),
                                    (batch[0][0], batch[1][0, 0])]:
        assert log_evidence == pytest.approx(log_z, rel=1e-12)
        assert posterior == pytest.approx(expected, rel=1e-9)


def test_splitting_the_sum_to_bound_memory_equals_brute_force(monkeypatch):
    """With a tiny state budget the general path splits over conditions in almost every query."""
    import bayesnet.inference.engine as engine_module

    monkeypatch.setattr(engine_module, "STATE_LIMIT", 2)
    rng = np.random.default_rng(9)
    split = 0
    for trial in range(40):
        network = structured_network(rng, int(rng.integers(2, 6)), int(rng.integers(3, 9)), trial % 3 == 0)
        engine = ExactEngine(network)
        encoded = encode_evidence(network, random_evidence(rng, network, positive=0.6))
        z, expected = brute_force(network, encoded)
        assert_matches(*general(engine, encoded), z, expected)
        links = network.link[(encoded.findings[:, 1] > 0) & (encoded.findings[:, 0] != encoded.findings[:, 1])]
        split += engine_module._cutset(engine.structure, np.concatenate([*encoded.context, _PAD])[None],
                                       links[None]).size > 0
    assert split > 10


def test_sweep_rescales_states_that_would_underflow():
    """A chain of conditions, each finding caused by two neighbours, all positive with leaks and
    links of 1e-40: the sweep's state falls by about 1e-40 per finding and must be rescaled."""
    n, tiny = 8, 1e-40
    link = np.zeros((n - 1, n))
    for i in range(n - 1):
        link[i, i] = link[i, i + 1] = tiny
    network = NoisyOrNetwork.from_arrays(
        context={"k": (["a", "b"], np.array([0.3, 0.7]))}, conditions=[f"c{j}" for j in range(n)],
        condition_leak=np.linspace(0.1, 0.4, n), risk={"k": np.tile([[0.0, 0.2]], (n, 1))},
        findings=[f"f{i}" for i in range(n - 1)], finding_leak=np.full(n - 1, tiny), link=link)
    engine = ExactEngine(network)
    encoded = encode_evidence(network, {f: "present" for f in network.findings})
    z, expected = brute_force(network, encoded)
    assert 0 < z < 1e-250
    answers = [(engine.query(encoded).log_evidence, engine.query(encoded).posterior), general(engine, encoded),
               tuple(x[0] for x in engine.query_batch(EvidenceBatch.stack([encoded])))]
    for log_evidence, posterior in answers:
        assert_matches(log_evidence, posterior, z, expected)


def test_queries_the_kernel_declines_are_answered_exactly_by_the_general_path():
    """Two ways to make the kernel decline: more than ``MAX_OPEN`` slots open at once (13 positive
    findings, each with both conditions as causes) and a weight near underflow (a condition given
    as present that fifteen negative findings with links of 1 - 1e-9 all but rule out)."""
    from bayesnet.inference.kernel import MAX_OPEN

    K = MAX_OPEN + 1
    wide = NoisyOrNetwork.from_arrays(
        context={"k": (["a", "b"], np.array([0.4, 0.6]))}, conditions=["c0", "c1"], condition_leak=np.array([0.1, 0.3]),
        risk={"k": np.array([[0.0, 0.5], [0.2, 0.0]])}, findings=[f"f{i}" for i in range(K)],
        finding_leak=np.full(K, 0.05), link=np.linspace(0.3, 0.9, 2 * K).reshape(K, 2))
    near_zero = NoisyOrNetwork.from_arrays(
        context={"k": (["a", "b"], np.array([0.4, 0.6]))}, conditions=["c0", "c1"], condition_leak=np.array([0.1, 0.3]),
        risk={}, findings=[f"f{i}" for i in range(15)], finding_leak=np.full(15, 0.05),
        link=np.column_stack([np.full(15, 1 - 1e-9), np.full(15, 0.2)]))
    cases = [(wide, {f"f{i}": "present" for i in range(K)}),
             (near_zero, {"c0": "present", **{f"f{i}": "absent" for i in range(15)}})]
    for network, evidence in cases:
        engine = ExactEngine(network)
        encoded = encode_evidence(network, evidence)
        assert kernel_status(engine, encoded) == DECLINED
        z, expected = brute_force(network, encoded)
        answer = engine.query(encoded)
        assert_matches(answer.log_evidence, answer.posterior, z, expected)
        log_evidence, posterior = engine.query_batch(EvidenceBatch.stack([encoded, encode_evidence(network, {})]))
        assert_matches(log_evidence[0], posterior[0], z, expected)
        assert posterior[1] == pytest.approx(engine.query(encode_evidence(network, {})).posterior, abs=1e-15)
        log_evidence, posterior = query_parameter_batch(network, ParameterBatch.repeat(network, 3), encoded)
        for b in range(3):
            assert_matches(log_evidence[b], posterior[b], z, expected)


def test_impossible_evidence_gives_minus_infinity_and_nan():
    network = NoisyOrNetwork.from_arrays(
        context={"k": (["a", "b"], np.array([0.5, 0.5]))}, conditions=["c"], condition_leak=np.array([0.2]),
        risk={}, findings=["f", "g"], finding_leak=np.array([0.1, 0.0]), link=np.array([[1.0], [0.5]]))
    engine = ExactEngine(network)
    # g has no leak, so g present needs c; c always produces f, so f absent rules c out
    encoded = encode_evidence(network, {"f": "absent", "g": "present"})
    answer = engine.query(encoded)
    assert answer.log_evidence == -math.inf and np.all(np.isnan(answer.posterior))
    log_evidence, posterior = engine.query_batch(EvidenceBatch.stack([encoded, encode_evidence(network, {"f": "absent"})]))
    assert log_evidence[0] == -math.inf and np.all(np.isnan(posterior[0]))
    assert posterior[1] == pytest.approx([0.0])


# ---------------------------------------------------------------------------- batches
def test_batch_equals_one_by_one_and_does_not_depend_on_the_batch():
    rng = np.random.default_rng(21)
    network = structured_network(rng, 6, 9, extreme=False)
    engine = ExactEngine(network)
    cases = [encode_evidence(network, random_evidence(rng, network, positive=float(rng.uniform(0.0, 0.6)),
                                                      context=float(rng.choice([0.0, 1.0, 0.5]))))
             for _ in range(120)]
    batch = EvidenceBatch.stack(cases)
    log_evidence, posterior = engine.query_batch(batch)
    for i, case in enumerate(cases):
        answer = engine.query(case)
        z, expected = brute_force(network, case) if i < 20 else (None, None)
        if z is not None:
            assert_matches(log_evidence[i], posterior[i], z, expected)
        if np.isfinite(answer.log_evidence):  # the same arithmetic as alone, to the last bit
            np.testing.assert_array_equal(posterior[i], answer.posterior)
            assert log_evidence[i] == answer.log_evidence
    # the same rows in other batches give the same numbers, to the last bit
    order = rng.permutation(len(cases))
    shuffled = engine.query_batch(EvidenceBatch.stack([cases[i] for i in order]))
    np.testing.assert_array_equal(shuffled[1], posterior[order])
    halves = [engine.query_batch(EvidenceBatch.stack(cases[s])) for s in (slice(0, 37), slice(37, None))]
    np.testing.assert_array_equal(np.concatenate([h[1] for h in halves]), posterior)


def test_batch_with_many_positive_findings_is_answered_one_by_one_exactly():
    rng = np.random.default_rng(8)
    network = structured_network(rng, 5, 12, extreme=False)
    engine = ExactEngine(network)
    cases = [encode_evidence(network, {f: "present" for f in network.findings[:10]}),
             encode_evidence(network, {f: "present" for f in network.findings[:2]})]
    log_evidence, posterior = engine.query_batch(EvidenceBatch.stack(cases))
    for i, case in enumerate(cases):
        z, expected = brute_force(network, case)
        assert_matches(log_evidence[i], posterior[i], z, expected)


def test_parameter_batch_equals_each_network_and_brute_force():
    rng = np.random.default_rng(3)
    for trial in range(6):
        network = structured_network(rng, 4, 6, extreme=trial % 2 == 1)
        encoded = encode_evidence(network, random_evidence(rng, network))
        batch = ParameterBatch.repeat(network, 7)
        scale = rng.uniform(0.5, 1.0, size=(7, 1, 1))
        batch = ParameterBatch(
            context_prior=tuple(rng.dirichlet(np.ones(p.shape[1]), size=7) for p in batch.context_prior),
            condition_leak=batch.condition_leak * scale[:, :, 0], risk=tuple(r * scale for r in batch.risk),
            finding_leak=batch.finding_leak * scale[:, :, 0], link=batch.link * scale)
        log_evidence, posterior = query_parameter_batch(network, batch, encoded)
        for b in range(7):
            each = batch.network(network, b)
            z, expected = brute_force(each, encoded)
            assert_matches(log_evidence[b], posterior[b], z, expected)
            answer = ExactEngine(each).query(encoded)
            if np.isfinite(answer.log_evidence):
                np.testing.assert_allclose(posterior[b], answer.posterior, rtol=0, atol=1e-12)


def test_parameter_batch_of_copies_reproduces_the_point_answer(model):
    encoded = model.encode({"fluid_fluid_levels": "present", "trabeculated_bone": "absent"}
                           if "fluid_fluid_levels" in model.findings else {})
    batch = ParameterBatch.repeat(model.network, 50)
    log_evidence, posterior = query_parameter_batch(model.network, batch, encoded)
    answer = model.engine.query(encoded)
    np.testing.assert_allclose(posterior, np.broadcast_to(answer.posterior, posterior.shape), rtol=0, atol=1e-12)
    np.testing.assert_allclose(log_evidence, answer.log_evidence, rtol=1e-12)


# ---------------------------------------------------------------------------- the real network
def _random_real_evidence(rng, model, observed: int, positive: int, context: float = 0.4) -> dict:
    findings = rng.choice(len(model.findings), size=observed, replace=False)
    evidence = {}
    for n, i in enumerate(findings):
        states = model.states(model.findings[i])          # the lowest state is "negative", any other "positive"
        evidence[model.findings[i]] = states[1 + int(rng.integers(len(states) - 1))] if n < positive else states[0]
    for k, states in zip(model.network.context, model.network.context_states):
        if rng.random() < context:
            evidence[k] = states[rng.integers(len(states))]
    if evidence.get("mineral_soft_tissue") == evidence.get("mineral_lung") == "absent":
        evidence["mineral_soft_tissue"] = "present"          # the population has mineral somewhere
    return evidence


def test_real_network_equals_pgmpy_variable_elimination(model):
    rng = np.random.default_rng(1)
    for _ in range(4):
        evidence = _random_real_evidence(rng, model, observed=int(rng.integers(1, 5)), positive=1)
        reference = model.reference_posteriors(evidence)
        np.testing.assert_allclose(model.answer(evidence).posterior, reference.to_numpy(), rtol=0, atol=TOLERANCE)


@pytest.fixture(scope="module")
def agrum(model, tmp_path_factory):
    gum = pytest.importorskip("pyagrum")
    path = tmp_path_factory.mktemp("export") / "network.bifxml"
    model.export(path, format="xmlbif")
    return gum, gum.loadBN(str(path))


def _agrum_posteriors(agrum, model, evidence: dict) -> np.ndarray:
    gum, bn = agrum
    inference = gum.LazyPropagation(bn)
    inference.setTargets(set(model.conditions))  # only the conditions: unobserved findings drop out as barren
    inference.setEvidence({**evidence, **({"population": "present"} if "population" in bn.names() else {})})
    inference.makeInference()
    return np.array([inference.posterior(c)[1] for c in model.conditions])


@pytest.mark.slow
@pytest.mark.parametrize("count, most", [pytest.param(24, 16, id="24 cases")])
def test_real_network_equals_pyagrum_through_xmlbif(model, agrum, count, most):
    # pyAgrum's junction tree over the exported network (chained max tables, the population node) takes
    # 5-20 s a case, so this runs with the slow checks; the default suite compares with pyAgrum on the
    # every-finding case below and through the command line's export
    rng = np.random.default_rng(2)
    evidences = [_random_real_evidence(rng, model, observed=int(rng.integers(1, most)),
                                       positive=int(rng.integers(0, 9))) for _ in range(count)]
    for evidence in evidences:
        np.testing.assert_allclose(model.answer(evidence).posterior, _agrum_posteriors(agrum, model, evidence),
                                   rtol=0, atol=TOLERANCE)
    # the same cases as one batch
    _, posterior = model.engine.query_batch(EvidenceBatch.stack([model.encode(e) for e in evidences]))
    for row, evidence in zip(posterior, evidences):
        np.testing.assert_allclose(row, model.answer(evidence).posterior, rtol=0, atol=1e-12)


@pytest.mark.slow  # pyAgrum takes most of a minute on this case
def test_every_finding_observed_with_twelve_positive_equals_pyagrum(model, agrum):
    rng = np.random.default_rng(4)
    evidence = _random_real_evidence(rng, model, observed=len(model.findings), positive=12, context=0.0)
    np.testing.assert_allclose(model.answer(evidence).posterior, _agrum_posteriors(agrum, model, evidence),
                               rtol=0, atol=TOLERANCE)


def test_every_finding_observed_with_twenty_positive_completes_on_every_path(model):
    rng = np.random.default_rng(6)
    evidence = _random_real_evidence(rng, model, observed=len(model.findings), positive=20, context=0.0)
    encoded = model.encode(evidence)
    answer = model.engine.query(encoded)
    assert np.isfinite(answer.log_evidence) and np.all((answer.posterior >= 0) & (answer.posterior <= 1))
    log_evidence, posterior = general(model.engine, encoded)
    np.testing.assert_allclose(posterior, answer.posterior, rtol=0, atol=1e-12)
    batch = model.engine.query_batch(EvidenceBatch.stack([encoded, encoded]))
    np.testing.assert_allclose(batch[1], np.stack([answer.posterior] * 2), rtol=0, atol=1e-12)


def test_context_structure_of_the_real_network(model):
    structure = model.engine.structure
    # a condition's context parents outside the hub lie within its own satellite
    for j, parents in enumerate(model.network.risk_parents):
        rest = set(parents) - set(structure.hub)
        assert (structure.group[j] < 0) == (not rest)
        assert rest <= set(structure.satellites[structure.group[j]] if rest else ())
    # every used context node is in the hub or in exactly one satellite
    used = set().union(*map(set, model.network.risk_parents))
    placed = [k for nodes in structure.satellites for k in nodes] + list(structure.hub)
    assert sorted(placed) == sorted(used)
    assert structure.hub_size == int(np.prod([len(model.network.context_states[k]) for k in structure.hub]))
    assert structure.satellite_sizes == tuple(int(np.prod([len(model.network.context_states[k]) for k in nodes]))
                                              for nodes in structure.satellites)


@pytest.mark.parametrize("state", ["absent", "present"])
def test_a_declined_case_is_not_split_over_a_condition_it_knows(state):
    """The condition that opens the most slots is known (absent or present): the split passes over
    it, since the kernel does not sweep it, and a branch on it would contradict the evidence."""
    rng = np.random.default_rng(410)
    base = random_network(rng, n_conditions=6, n_findings=16)
    link = base.link * (rng.random(base.link.shape) < 0.7)
    link[np.arange(16), rng.integers(6, size=16)] = rng.uniform(0.2, 0.9, 16)
    network = NoisyOrNetwork.from_arrays(
        context={k: (list(s), p) for k, s, p in zip(base.context, base.context_states, base.context_prior)},
        conditions=list(base.conditions), condition_leak=base.condition_leak, risk=dict(zip(base.context, base.risk)),
        findings=list(base.findings), finding_leak=base.finding_leak, link=link)
    engine = ExactEngine(network)
    busiest = network.conditions[int((link > 0).sum(axis=0).argmax())]
    evidence = {**{f: "present" for f in network.findings}, busiest: state}
    encoded = encode_evidence(network, evidence)
    if kernel_status(engine, encoded) != DECLINED:
        evidence.pop(busiest)
        assert kernel_status(engine, encode_evidence(network, evidence)) == DECLINED
        pytest.skip("known, the busiest condition leaves few enough slots for the kernel")
    cut = _kernel_cut(engine.structure, network.link, encoded.conditions, encoded.findings)
    assert cut and network.conditions.index(busiest) not in cut
    z, expected = brute_force(network, encoded)
    answer = engine.query(encoded)
    assert_matches(answer.log_evidence, answer.posterior, z, expected)


@pytest.mark.parametrize("seed", range(4))
def test_declined_cases_split_over_conditions_equal_brute_force(seed):
    """Six conditions with context, satellites and soft condition evidence; 16 positive or soft
    findings with two to five causes each hold more slots open than the kernel does: the case is split
    over the conditions that open the most, each branch answered by the kernel (or, declined again,
    by the general path), and the sum equals brute force."""
    rng = np.random.default_rng(400 + seed)
    base = random_network(rng, n_conditions=6, n_findings=16)
    link = base.link * (rng.random(base.link.shape) < 0.7)
    link[np.arange(16), rng.integers(6, size=16)] = rng.uniform(0.2, 0.9, 16)
    network = NoisyOrNetwork.from_arrays(       # parents follow the new links
        context={k: (list(s), p) for k, s, p in zip(base.context, base.context_states, base.context_prior)},
        conditions=list(base.conditions), condition_leak=base.condition_leak, risk=dict(zip(base.context, base.risk)),
        findings=list(base.findings), finding_leak=base.finding_leak, link=link)
    engine = ExactEngine(network)
    evidence = {f: ("present" if i % 4 else [0.3, 0.9]) for i, f in enumerate(network.findings)}
    evidence[network.conditions[seed]] = [0.4, 0.7]
    encoded = encode_evidence(network, evidence)
    assert kernel_status(engine, encoded) == DECLINED
    z, expected = brute_force(network, encoded)
    answer = engine.query(encoded)
    assert_matches(answer.log_evidence, answer.posterior, z, expected)
    clamped = encode_evidence(network, {**evidence, **{c: "absent" for c in network.conditions}})
    none, _ = brute_force(network, clamped)                  # the soft vector, scaled to [4/7, 1], weighs absent 4/7
    assert answer.none == pytest.approx(none * (0.4 / 0.7) / z, rel=1e-9)
