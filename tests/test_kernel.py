"""The compiled kernel (:mod:`bayesnet.inference.kernel`) on its own paths, against brute-force enumeration.

``tests/test_engine.py`` holds every public path of the engine to brute force on random networks.
The tests here aim at the kernel's particular machinery: the greedy block order and the reuse of
state bits, satellite groups of different sizes with swept and unswept members, certain risks and
links, context states of zero weight, findings that reduce to constants, the power-of-two rescaling
(forward and backward), parameter sets, threads, and the queries it must decline. Each test checks
the kernel's own status (``ANSWERED`` unless the test is about declining), so that what is compared
with brute force is the kernel's arithmetic and not the general path's.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from bruteforce import brute_force
from test_engine import (
    assert_matches,
    general,
    kernel_status,
    random_evidence,
    structured_network,
)

import bayesnet.inference.kernel as kernel_module
from bayesnet.inference.engine import _PAD, ExactEngine, ParameterBatch, query_parameter_batch
from bayesnet.inference.evidence import EvidenceBatch, encode_evidence
from bayesnet.inference.kernel import (
    ANSWERED,
    DECLINED,
    GREEDY_SLOTS,
    IMPOSSIBLE,
    MAX_OPEN,
    KernelTables,
)
from bayesnet.knowledge.network import NoisyOrNetwork


# ---------------------------------------------------------------------------- helpers
def kernel_answer(engine: ExactEngine, encoded) -> tuple[int, float, np.ndarray]:
    """The compiled kernel's status, log P(evidence) and posteriors for one case (no fallback)."""
    status, log_evidence, _, posterior = engine._kernel.one(np.concatenate([*encoded.context, _PAD]),
                                                            encoded.conditions, encoded.findings)
    return status, log_evidence, posterior


def answered_exactly(network: NoisyOrNetwork, evidence: dict, engine: ExactEngine | None = None) -> np.ndarray:
    """Assert that the kernel answers ``evidence`` itself and equals brute force; return the posteriors."""
    engine = ExactEngine(network) if engine is None else engine
    encoded = encode_evidence(network, evidence)
    status, log_evidence, posterior = kernel_answer(engine, encoded)
    assert status == ANSWERED, f"the kernel did not answer {evidence} (status {status})"
    z, expected = brute_force(network, encoded)
    assert_matches(log_evidence, posterior, z, expected)
    return posterior


def slot_count(network: NoisyOrNetwork, encoded) -> int:
    """Findings the sweep carries: positive or soft, with at least one cause."""
    lam0, lam1 = encoded.findings[:, 0], encoded.findings[:, 1]
    return int(np.sum((lam0 != lam1) & (lam1 > 0) & network.link.any(axis=1)))


def network(context: dict, condition_leak, risk: dict, finding_leak, link) -> NoisyOrNetwork:
    condition_leak, finding_leak = np.asarray(condition_leak, float), np.asarray(finding_leak, float)
    return NoisyOrNetwork.from_arrays(
        context=context, conditions=[f"c{j}" for j in range(condition_leak.size)], condition_leak=condition_leak,
        risk=risk, findings=[f"f{i}" for i in range(finding_leak.size)], finding_leak=finding_leak,
        link=np.asarray(link, float))


# ---------------------------------------------------------------------------- block order and state bits
def test_greedy_order_is_what_keeps_paired_conditions_within_max_open():
    """Conditions c_i and c_{i+4} share four findings each: 16 slots. In index order all 16 are open
    after c0..c3 (more than MAX_OPEN, so the kernel would decline); the greedy order visits each
    pair together and never holds more than four, reusing the freed bits."""
    rng = np.random.default_rng(31)
    half, per = 4, 4
    n, m = 2 * half, half * per
    link = np.zeros((m, n))
    for i in range(half):
        link[i * per:(i + 1) * per, i] = rng.uniform(0.2, 0.9, per)
        link[i * per:(i + 1) * per, i + half] = rng.uniform(0.2, 0.9, per)
    assert m > MAX_OPEN and m > GREEDY_SLOTS
    # plain conditions (blocks of one; the members of a satellite group stay in index order)
    net = network({"k": (["a", "b"], np.array([0.3, 0.7]))}, rng.uniform(0.02, 0.3, n), {},
                  rng.uniform(0.001, 0.1, m), link)
    engine = ExactEngine(net)
    answered_exactly(net, {f: "present" for f in net.findings}, engine)
    soft = {f: ("present" if i % 3 else [0.2, 0.7]) for i, f in enumerate(net.findings)}
    answered_exactly(net, {**soft, "f5": "absent", "c2": [0.4, 0.9], "c6": "present"}, engine)


def _dense_network(rng: np.random.Generator) -> NoisyOrNetwork:
    """5-7 conditions, 9-12 findings with 1-3 causes each, one or two context nodes."""
    n, m = int(rng.integers(5, 8)), int(rng.integers(9, 13))
    link = np.zeros((m, n))
    for i in range(m):
        causes = rng.choice(n, size=int(rng.integers(1, 4)), replace=False)
        link[i, causes] = rng.uniform(0.05, 0.95, causes.size)
    cards = [int(c) for c in rng.integers(2, 4, size=int(rng.integers(1, 3)))]
    context = {f"k{t}": ([f"s{s}" for s in range(c)], rng.dirichlet(np.ones(c))) for t, c in enumerate(cards)}
    risk = {k: np.where(rng.random((n, len(s))) < 0.4, rng.uniform(0.01, 0.6, (n, len(s))), 0.0)
            for k, (s, _) in context.items()}
    return network(context, rng.uniform(0.01, 0.3, n), risk, rng.uniform(0.001, 0.2, m), link)


def test_greedy_order_on_random_networks_with_nine_to_twelve_positive_findings():
    rng = np.random.default_rng(12)
    answered = 0
    for _ in range(40):
        net = _dense_network(rng)
        evidence = {f: ("present" if rng.random() < 0.85 else [float(rng.uniform(0.1, 1.0)), 1.0])
                    for f in net.findings}
        if rng.random() < 0.5:
            evidence[net.conditions[0]] = ["absent", "present"][int(rng.integers(2))]
        encoded = encode_evidence(net, evidence)
        if slot_count(net, encoded) <= GREEDY_SLOTS or kernel_status(ExactEngine(net), encoded) != ANSWERED:
            continue
        answered_exactly(net, evidence)
        answered += 1
        if answered == 12:
            break
    assert answered == 12


def test_a_long_chain_reuses_state_bits():
    """Fourteen slots in all, each caused by two neighbouring conditions of a chain: never more than
    a few open at once, so bits are freed and reused many times over."""
    n = 8
    link = np.zeros((2 * (n - 1), n))
    for i in range(n - 1):
        link[2 * i, [i, i + 1]] = [0.6, 0.3]
        link[2 * i + 1, [i, i + 1]] = [0.2, 0.8]
    net = network({"k": (["a", "b"], np.array([0.5, 0.5]))}, np.linspace(0.05, 0.3, n),
                  {"k": np.tile([[0.0, 0.25]], (n, 1))}, np.full(2 * (n - 1), 0.02), link)
    assert len(net.findings) > MAX_OPEN
    engine = ExactEngine(net)
    answered_exactly(net, {f: "present" for f in net.findings}, engine)
    answered_exactly(net, {f: ("present" if i % 4 else "absent") for i, f in enumerate(net.findings)}, engine)


# ---------------------------------------------------------------------------- satellite groups
def _satellite_network(rng: np.random.Generator) -> NoisyOrNetwork:
    """Hub ``h`` (3 states); satellites ``s2`` (2 states, fewer than the width) and ``s4`` (4
    states), each with a group of three conditions; a plain condition on the hub; an unused node."""
    context = {"h": (["h0", "h1", "h2"], np.array([0.5, 0.3, 0.2])), "s2": (["x", "y"], np.array([0.6, 0.4])),
               "s4": (["t0", "t1", "t2", "t3"], np.array([0.1, 0.2, 0.3, 0.4])),
               "u": (["no", "yes"], np.array([0.8, 0.2]))}
    parents = {"h": [0, 1, 3, 6], "s2": [0, 1, 2], "s4": [3, 4, 5]}
    n = 7
    risk = {k: np.zeros((n, len(context[k][0]))) for k in parents}
    for k, members in parents.items():
        risk[k][members] = rng.uniform(0.05, 0.8, (len(members), len(context[k][0])))
    link = np.zeros((6, n))
    for i, causes in enumerate([[0, 3], [2, 4], [6, 0], [1], [5], [1, 5, 6]]):
        link[i, causes] = rng.uniform(0.2, 0.9, len(causes))
    return network(context, rng.uniform(0.01, 0.2, n), risk, rng.uniform(0.005, 0.1, 6), link)


SATELLITE_EVIDENCE = [
    # f3 and f4 negative, f5 unobserved: c1 and c5 are not swept, the other members are
    {"f0": "present", "f1": "present", "f2": "present", "f3": "absent", "f4": "absent"},
    # f5 soft: every member swept
    {"f0": "present", "f1": [0.3, 0.8], "f2": "present", "f5": [0.6, 0.2]},
    # context: hard on the hub, hard on a satellite (the other states of its group get zero weight)
    {"f0": "present", "f1": "present", "h": "h1", "s2": "y"},
    # soft context with zero entries, and soft evidence on the unused node
    {"f0": "present", "f2": "present", "f4": "present", "s4": [0.2, 0.0, 1.0, 0.5], "u": [0.3, 0.9]},
    # evidence on the conditions, swept and unswept
    {"f0": "present", "f1": "present", "c0": "absent", "c1": "present", "c4": [0.9, 0.2], "c5": "absent"},
]


@pytest.mark.parametrize("evidence", SATELLITE_EVIDENCE)
def test_satellite_groups_of_different_sizes_with_swept_and_unswept_members(evidence):
    for seed in range(3):
        net = _satellite_network(np.random.default_rng(seed))
        engine = ExactEngine(net)
        s = engine.structure
        assert s.hub == (0,) and s.satellites == ((1,), (2,)) and s.width == 4 and s.unused == (3,)
        np.testing.assert_array_equal(s.group, [0, 0, 0, 1, 1, 1, -1])
        posterior = answered_exactly(net, evidence, engine)
        for j, c in enumerate(net.conditions):  # hard evidence on a condition is exactly certain
            if evidence.get(c) in ("absent", "present"):
                assert posterior[j] == (evidence[c] == "present")


def _joint_satellite_network(rng: np.random.Generator) -> NoisyOrNetwork:
    """Hub ``h`` (3 states), shared by ``c0`` (with ``t``), ``c3`` and ``c4`` (with ``u``) and ``c5``;
    ``c1`` depends on ``t`` and ``b``, as a haematoma on trauma and a bleeding tendency, so ``t`` (3
    states) and ``b`` (2 states) form one satellite of six joint states; ``c2`` depends on ``b``
    alone, ``c6`` on nothing."""
    context = {"h": (["h0", "h1", "h2"], np.array([0.5, 0.3, 0.2])), "t": (["t0", "t1", "t2"], np.array([0.6, 0.3, 0.1])),
               "b": (["no", "yes"], np.array([0.7, 0.3])), "u": (["no", "yes"], np.array([0.8, 0.2]))}
    parents = {"h": [0, 3, 4, 5], "t": [0, 1], "b": [1, 2], "u": [3, 4]}
    n = 7
    risk = {k: np.zeros((n, len(context[k][0]))) for k in parents}
    for k, members in parents.items():
        risk[k][members] = rng.uniform(0.05, 0.8, (len(members), len(context[k][0])))
    link = np.zeros((5, n))
    for i, causes in enumerate([[0, 1, 2, 3, 4, 5, 6], [0, 1], [1, 2, 4], [2, 3, 5], [6, 0]]):
        link[i, causes] = rng.uniform(0.2, 0.9, len(causes))
    return network(context, rng.uniform(0.01, 0.2, n), risk, rng.uniform(0.005, 0.1, 5), link)


JOINT_EVIDENCE = [
    {"f0": "present", "f1": "present", "f2": "present"},
    {"f0": "present", "f1": "absent", "f3": "present", "b": "yes", "u": "no"},      # one node of the satellite known
    {"f0": "present", "f2": [0.3, 0.8], "t": [0.0, 1.0, 0.4], "h": [0.2, 0.0, 1.0]},  # soft, with zero entries
    {"f0": "present", "f1": "present", "f4": "present", "t": "t2", "b": "no", "h": "h1", "u": "yes"},  # all known
    {"f0": "present", "c1": "present", "c2": [0.9, 0.2]},
]


@pytest.mark.parametrize("evidence", JOINT_EVIDENCE)
def test_a_condition_with_two_context_parents_outside_the_hub_joins_them_into_one_satellite(evidence):
    for seed in range(3):
        net = _joint_satellite_network(np.random.default_rng(seed))
        engine = ExactEngine(net)
        s = engine.structure
        assert s.hub == (0,) and s.satellites == ((1, 2), (3,)) and s.satellite_sizes == (6, 2) and s.width == 6
        np.testing.assert_array_equal(s.group, [0, 0, 0, 1, 1, -1, -1])
        posterior = answered_exactly(net, evidence, engine)
        encoded = encode_evidence(net, evidence)
        z, expected = brute_force(net, encoded)
        log_evidence, general_posterior = general(engine, encoded)          # the general path too
        assert_matches(log_evidence, general_posterior, z, expected)
        parameters = ParameterBatch.repeat(net, 2)
        _, batch_posterior = query_parameter_batch(net, parameters, encoded)
        np.testing.assert_allclose(batch_posterior, np.stack([posterior] * 2), rtol=0, atol=1e-12)


def test_rescaling_inside_a_satellite_block():
    """A chain of conditions, all in one satellite group of three states, with leaks and links of
    1e-40: the state vectors, one per satellite state, fall far below 1e-100 and are rescaled
    together, forward and backward."""
    n, tiny = 7, 1e-40
    link = np.zeros((n - 1, n))
    for i in range(n - 1):
        link[i, i] = link[i, i + 1] = tiny
    net = network({"k": (["a", "b", "c"], np.array([0.2, 0.3, 0.5]))}, np.linspace(0.1, 0.4, n),
                  {"k": np.tile([[0.0, 0.3, 0.6]], (n, 1))}, np.full(n - 1, tiny), link)
    engine = ExactEngine(net)
    assert engine.structure.satellites == ((0,),)
    encoded = encode_evidence(net, {f: "present" for f in net.findings})
    z, _ = brute_force(net, encoded)
    assert 0 < z < 1e-200
    answered_exactly(net, {f: "present" for f in net.findings}, engine)
    answered_exactly(net, {**{f: "present" for f in net.findings}, "k": [1.0, 0.0, 0.5]}, engine)


def test_backward_rescaling_across_a_reused_bit():
    """Seven conditions, each the only cause of one positive finding (leak and link 1e-40): the
    same bit serves every slot in turn, and going backward the vector's largest entry falls by
    about 1e-40 at each slot closed, so the backward pass must rescale (without it the inner
    products fall below the kernel's floor and it declines)."""
    n = 7
    net = network({"k": (["a", "b"], np.array([0.5, 0.5]))}, np.linspace(0.1, 0.4, n), {}, np.full(n, 1e-40),
                  np.eye(n) * 1e-40)
    encoded = encode_evidence(net, {f: "present" for f in net.findings})
    assert 0 < brute_force(net, encoded)[0] < 1e-250
    posterior = answered_exactly(net, {f: "present" for f in net.findings})
    # each pair alone: P(c | f) = l (leak + p - leak p) / (l (leak + p - leak p) + (1 - l) leak)
    leak = np.linspace(0.1, 0.4, n)
    np.testing.assert_allclose(posterior, leak * 2 / (leak * 2 + (1 - leak)), rtol=1e-12)


# ---------------------------------------------------------------------------- certain risks and links
def _certain_network() -> NoisyOrNetwork:
    """c0 is certainly present when h = m (risk 1); c2 certainly present when s = s2; f0 certainly
    follows c0, f1 follows c2, f2 follows c1 (links 1); f0 and f3 have no leak."""
    context = {"h": (["f", "m"], np.array([0.6, 0.4])), "s": (["s0", "s1", "s2"], np.array([0.5, 0.3, 0.2]))}
    risk = {"h": np.array([[0.0, 1.0], [0.3, 0.5], [0.0, 0.0], [0.0, 0.0]]),
            "s": np.array([[0.2, 0.0, 0.4], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])}
    link = np.array([[1.0, 0.4, 0.0, 0.0],
                     [0.0, 0.0, 1.0, 0.5],
                     [0.0, 1.0, 0.0, 0.0],
                     [0.2, 0.0, 0.0, 0.7],
                     [0.5, 0.0, 0.6, 0.0]])
    return network(context, [0.05, 0.1, 0.0, 0.2], risk, [0.0, 0.1, 0.05, 0.0, 0.02], link)


@pytest.mark.parametrize("evidence, certain", [
    ({"f0": "present", "f3": "present"}, {}),
    # f2 absent rules c1 out (link 1); f0 present then needs c0
    ({"f0": "present", "f2": "absent", "f3": "present"}, {"c1": 0.0, "c0": 1.0}),
    # c0 absent rules out h = m, where c0 is certain
    ({"c0": "absent", "f1": "present", "f3": "present", "f4": "present"}, {"c0": 0.0}),
    # f1 absent rules c2 out, so s2 (where c2 is certain) gets zero weight in the group's mix
    ({"f1": "absent", "f0": "present", "f4": "present"}, {"c2": 0.0}),
    ({"c2": "present", "f4": "present", "f3": [0.3, 1.0], "h": "m"}, {"c0": 1.0, "c2": 1.0}),
    ({"f0": [0.2, 0.9], "f1": "present", "f2": "present", "s": [1.0, 0.0, 1.0]}, {}),
])
def test_certain_risks_and_certain_links(evidence, certain):
    net = _certain_network()
    posterior = answered_exactly(net, evidence)
    for name, value in certain.items():
        assert posterior[net.conditions.index(name)] == pytest.approx(value, abs=1e-15)


# ---------------------------------------------------------------------------- constants and impossibility
def test_findings_that_reduce_to_constants():
    """A finding with equal likelihoods, and one that no condition can produce, add a constant to
    log P(evidence) and leave the posteriors unchanged to the last bit."""
    net = network({"k": (["a", "b"], np.array([0.5, 0.5]))}, [0.1, 0.3], {"k": np.array([[0.0, 0.4], [0.2, 0.0]])},
                  [0.05, 0.1, 0.25], [[0.7, 0.3], [0.0, 0.6], [0.0, 0.0]])
    engine = ExactEngine(net)
    base = {"f0": "present", "f1": [0.2, 0.9]}
    _, log_base, posterior_base = kernel_answer(engine, encode_evidence(net, base))
    for extra, factor in [({"f1": [0.4, 0.4]}, None), ({"f2": "present"}, 0.25), ({"f2": "absent"}, 0.75),
                          ({"f2": [0.2, 0.6]}, (0.2 * 0.75 + 0.6 * 0.25) / 0.6)]:  # scaled to a largest entry of 1
        evidence = {**base, **extra}
        posterior = answered_exactly(net, evidence, engine)
        _, log_evidence, _ = kernel_answer(engine, encode_evidence(net, evidence))
        if factor is None:  # f1's evidence replaced by equal likelihoods: it is no longer a slot
            continue
        np.testing.assert_array_equal(posterior, posterior_base)
        assert log_evidence == pytest.approx(log_base + math.log(factor), abs=1e-13)
    _, log_equal, _ = kernel_answer(engine, encode_evidence(net, {"f0": "present", "f1": [0.4, 0.4]}))
    _, log_unobserved, _ = kernel_answer(engine, encode_evidence(net, {"f0": "present"}))
    assert log_equal == pytest.approx(log_unobserved, abs=1e-13)  # [0.4, 0.4] is scaled to [1, 1]


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # brute force's tables, for a leak of 1
def test_evidence_found_impossible_before_the_sweep():
    net = network({"k": (["a", "b", "c"], np.array([0.5, 0.5, 0.0])), "u": (["p", "q"], np.array([1.0, 0.0]))},
                  [0.2, 0.1], {"k": np.array([[0.3, 0.6, 0.1], [0.0, 0.0, 0.0]])}, [1.0, 0.0, 0.1],
                  [[0.5, 0.0], [0.0, 0.0], [0.4, 0.7]])
    engine = ExactEngine(net)
    for evidence in [{"f0": "absent"},               # a finding with a leak of 1 observed absent
                     {"f1": "present"},              # a finding nothing can produce, without a leak
                     {"u": "q", "f2": "present"},    # an unused context node in a state of prior 0
                     {"k": "c", "f2": "present"}]:   # every configuration of the context has weight 0
        encoded = encode_evidence(net, evidence)
        assert kernel_answer(engine, encoded)[0] == IMPOSSIBLE
        assert brute_force(net, encoded)[0] == 0
        answer = engine.query(encoded)
        assert answer.log_evidence == -math.inf and np.all(np.isnan(answer.posterior))


# ---------------------------------------------------------------------------- declining
def declined_or_exact(engine: ExactEngine, encoded, log_z: float, expected: np.ndarray) -> None:
    """The kernel declines, or answers ``log_z`` and ``expected``; the engine answers them either way."""
    status, log_evidence, posterior = kernel_answer(engine, encoded)
    assert status in (DECLINED, ANSWERED)
    answer = engine.query(encoded)
    answers = [(answer.log_evidence, answer.posterior)] + ([(log_evidence, posterior)] if status == ANSWERED else [])
    for log_evidence, posterior in answers:
        assert log_evidence == pytest.approx(log_z, rel=1e-12)
        np.testing.assert_allclose(posterior, expected, rtol=0, atol=1e-12)


def test_weights_that_underflow_are_declined_not_answered_wrongly():
    """Three ways linear arithmetic underflows although the evidence is possible: the kernel must
    decline (the general path then answers in logs) or answer exactly, never call the evidence
    impossible or fail.

    * a context state in which a condition is certainly absent, and eleven positive findings that
      only it causes, with leaks of 1e-30: the backward vector's entry for that state is 1e-330;
    * a satellite group of four members given as present, each all but ruled out (about 1e-90) by
      nine negative findings: their product is 1e-360;
    * two positive findings without leak, each caused only by a condition of prior 1e-99 and 1e-250.
    """
    K = 11
    tiny_leaks = network({"h": (["a", "b"], np.array([0.5, 0.5])), "k": (["x", "y"], np.array([0.5, 0.5]))},
                         [0.0, 0.1], {"h": np.array([[0.0, 0.5], [0.2, 0.4]]), "k": np.array([[0.0, 0.0], [0.3, 0.6]])},
                         np.full(K, 1e-30), np.column_stack([np.full(K, 0.5), np.zeros(K)]))
    encoded = encode_evidence(tiny_leaks, {f: "present" for f in tiny_leaks.findings})
    z, expected = brute_force(tiny_leaks, encoded)
    declined_or_exact(ExactEngine(tiny_leaks), encoded, math.log(z), expected)

    n, per, p = 4, 9, 1 - 1e-10
    link = np.zeros((n * per, n))
    for j in range(n):
        link[j * per:(j + 1) * per, j] = p
    group = network({"k": (["a", "b"], np.array([0.5, 0.5]))}, np.full(n, 0.5), {"k": np.tile([[0.1, 0.3]], (n, 1))},
                    np.zeros(n * per), link)
    encoded = encode_evidence(group, {**{c: "present" for c in group.conditions}, **{f: "absent" for f in group.findings}})
    present = 1 - 0.5 * np.array([0.9, 0.7])                               # P(c_j | k) for k = a, b
    log_z = math.log(0.5 * (present[0] ** n + present[1] ** n)) + n * per * math.log1p(-p)
    declined_or_exact(ExactEngine(group), encoded, log_z, np.ones(n))

    rare = network({"k": (["a", "b"], np.array([0.5, 0.5]))}, [1e-99, 1e-250], {}, [0.0, 0.0], np.eye(2))
    encoded = encode_evidence(rare, {"f0": "present", "f1": "present"})
    declined_or_exact(ExactEngine(rare), encoded, math.log(1e-99) + math.log(1e-250), np.ones(2))


def test_evidence_far_below_the_double_range_is_answered_exactly_or_declined():
    """f1 needs c1 (no leak; prior and link 1e-95, so P(f1) = 1e-190); given that, f0 is explained
    by c0 (prior 1e-150, link 0.5) or by its own leak (1e-150) with odds 1 : 2. P(evidence) is
    about 1e-340. The backward vector must be rescaled by the entries that can still meet the forward
    vector (not by those of a slot that is not yet open), or the leak's term, 1e-190 * 1e-150,
    underflows."""
    q, leak = 1e-150, 1e-150
    rare = network({"k": (["a", "b"], np.array([0.5, 0.5]))}, [q, 1e-95], {}, [leak, 0.0], [[0.5, 0.0], [0.0, 1e-95]])
    engine = ExactEngine(rare)
    status, _, posterior = kernel_answer(engine, encode_evidence(rare, {"f0": "present", "f1": "present"}))
    with_c0 = 1 - (1 - leak) * 0.5
    expected = q * with_c0 / (q * with_c0 + (1 - q) * leak)                 # 1/3
    assert status == DECLINED or np.allclose(posterior, [expected, 1.0], rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------- parameter sets
def _parameter_network() -> NoisyOrNetwork:
    context = {"h": (["h0", "h1", "h2"], np.array([0.5, 0.3, 0.2])), "s": (["x", "y"], np.array([0.7, 0.3]))}
    risk = {"h": np.array([[0.2, 0.5, 0.1], [0.3, 0.0, 0.6], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
            "s": np.array([[0.1, 0.4], [0.0, 0.0], [0.3, 0.7], [0.0, 0.0]])}
    link = np.array([[0.6, 0.4, 0.0, 0.0],
                     [0.0, 0.5, 0.7, 0.0],
                     [0.0, 0.0, 0.3, 0.8],
                     [0.5, 0.0, 0.0, 0.4],
                     [0.0, 0.0, 0.0, 0.9]])
    return network(context, [0.05, 0.1, 0.02, 0.3], risk, [0.02, 0.05, 0.1, 0.01, 0.2], link)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # brute force's tables, for a leak of 1
def test_parameter_rows_answered_declined_and_impossible_each_equal_brute_force(monkeypatch):
    """Twelve parameter sets for one evidence set: set 0 switches two links off (the causes are
    those non-zero in any set), set 3 gives f3 a leak of 1 (f3 is observed absent: impossible),
    set 5 gives c3, observed present, a prior of 1e-120 (the kernel declines). The others vary."""
    net = _parameter_network()
    B = 12
    rng = np.random.default_rng(4)
    batch = ParameterBatch.repeat(net, B)
    scale = rng.uniform(0.5, 1.0, size=(B, 1, 1))
    scale[0] = 1.0
    batch = ParameterBatch(tuple(np.asarray(p) for p in batch.context_prior), batch.condition_leak * scale[:, :, 0],
                           tuple(r * scale for r in batch.risk), batch.finding_leak * scale[:, :, 0], batch.link * scale)
    batch.link[0, 0, 1] = batch.link[0, 1, 1] = 0.0
    batch.finding_leak[3, 3] = 1.0
    batch.condition_leak[5, 3] = 1e-120
    evidence = encode_evidence(net, {"f0": "present", "f1": "present", "f2": [0.3, 0.8], "f3": "absent",
                                     "c3": "present", "s": [0.4, 1.0]})

    statuses = []
    original = KernelTables.parameter_rows

    def spy(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        statuses.append(result[0].copy())
        return result

    monkeypatch.setattr(KernelTables, "parameter_rows", spy)
    log_evidence, posterior = query_parameter_batch(net, batch, evidence, workers=1)
    expected_status = np.full(B, ANSWERED)
    expected_status[3], expected_status[5] = IMPOSSIBLE, DECLINED
    np.testing.assert_array_equal(np.concatenate(statuses), expected_status)
    for b in range(B):
        each = batch.network(net, b)
        assert_matches(log_evidence[b], posterior[b], *brute_force(each, evidence))
        if expected_status[b] == ANSWERED:  # the same answer as the set's own engine
            answer = ExactEngine(each).query(evidence)
            np.testing.assert_allclose(posterior[b], answer.posterior, rtol=0, atol=1e-13)
            assert log_evidence[b] == pytest.approx(answer.log_evidence, abs=1e-12)


# ---------------------------------------------------------------------------- threads
def test_rows_in_two_threads_equal_single_queries_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(17)
    net = structured_network(rng, 6, 9, extreme=False)
    engine = ExactEngine(net, workers=2)
    cases = [encode_evidence(net, random_evidence(rng, net, positive=float(rng.uniform(0.1, 0.7)),
                                                  context=float(rng.choice([0.0, 0.5, 1.0]))))
             for _ in range(600)]
    batch = EvidenceBatch.stack(cases)
    context = np.concatenate([*batch.context, np.zeros((len(cases), 1))], axis=1)

    pools = []
    original = kernel_module.ThreadPoolExecutor

    def pool(workers):
        pools.append(workers)
        return original(workers)

    monkeypatch.setattr(kernel_module, "ThreadPoolExecutor", pool)
    status, log_evidence, posterior = engine._kernel.rows(context, batch.conditions, batch.findings, workers=2)
    assert pools == [2]
    assert np.sum(status == ANSWERED) > 500
    for i, case in enumerate(cases):
        alone = kernel_answer(engine, case)
        assert status[i] == alone[0]
        if status[i] == ANSWERED:
            assert log_evidence[i] == alone[1]
            np.testing.assert_array_equal(posterior[i], alone[2])
    # and through the engine, declined rows included
    log_evidence, posterior = engine.query_batch(batch)
    for i, case in enumerate(cases):
        answer = engine.query(case)
        np.testing.assert_array_equal(posterior[i], answer.posterior)
        assert log_evidence[i] == answer.log_evidence or (np.isnan(log_evidence[i]) and np.isnan(answer.log_evidence))


# ---------------------------------------------------------------------------- workspaces
def test_single_queries_from_several_threads_and_after_pickling_answer_alike(model):
    """Each thread answers in its own workspace, and a pickled model makes new ones."""
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(8)
    findings = [f for f in model.findings if f != "mineral_soft_tissue"]
    cases = [{"mineral_soft_tissue": "present",
              **{f: model.states(f)[int(rng.integers(len(model.states(f))))] for f in rng.choice(findings, 6)}}
             for _ in range(40)]
    expected = np.stack([model.answer(c).posterior for c in cases])
    with ThreadPoolExecutor(4) as pool:
        threaded = np.stack(list(pool.map(lambda c: model.answer(c).posterior, cases * 3)))
    np.testing.assert_array_equal(threaded, np.concatenate([expected] * 3))
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(np.stack([copy.answer(c).posterior for c in cases]), expected)


def test_a_condition_with_zero_likelihood_for_both_states_is_impossible_not_an_error():
    """The engine never builds such evidence from a user's (an all-zero vector is refused when it is
    encoded); the kernel still answers it as impossible rather than dividing by zero."""
    net = _satellite_network(np.random.default_rng(0))
    engine = ExactEngine(net)
    encoded = encode_evidence(net, {"f0": "present"})
    conditions = encoded.conditions.copy()
    conditions[2] = 0.0
    status = engine._kernel.one(np.concatenate([*encoded.context, _PAD]), conditions, encoded.findings)[0]
    assert status == IMPOSSIBLE
