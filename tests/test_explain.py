"""Weights of evidence: exact against brute-force enumeration, and summing to the log odds change."""
from __future__ import annotations

import numpy as np
import pytest

from bayesnet.inference.engine import ExactEngine
from bayesnet.errors import BayesnetError, EvidenceError, UnknownNameError
from bayesnet.inference.evidence import EncodedEvidence, encode_evidence
from bayesnet.analysis.explain import explain_condition
from tests.bruteforce import brute_force, random_network


def _logit(p: float) -> float:
    return float(np.log(p) - np.log1p(-p))


def _random_evidence(rng: np.random.Generator, network) -> dict:
    evidence: dict = {}
    for f in rng.permutation(network.findings)[: rng.integers(1, len(network.findings) + 1)]:
        evidence[str(f)] = rng.choice(["absent", "present"]) if rng.random() < 0.8 else list(rng.uniform(0.1, 1, 2))
    if rng.random() < 0.5:
        evidence["age"] = str(rng.choice(["a", "b", "c"]))
    return evidence


def _clamped(encoded: EncodedEvidence, j: int, state: int) -> EncodedEvidence:
    conditions = encoded.conditions.copy()
    conditions[j, 1 - state] = 0.0
    return EncodedEvidence(encoded.context, conditions, encoded.findings, encoded.items)


def _bf_log_odds(network, evidence: dict, j: int) -> float:
    """log P(evidence, H present) - log P(evidence, H absent) by enumeration of the joint."""
    encoded = encode_evidence(network, evidence)
    return float(np.log(brute_force(network, _clamped(encoded, j, 1))[0])
                 - np.log(brute_force(network, _clamped(encoded, j, 0))[0]))


@pytest.mark.parametrize("seed", range(8))
def test_chain_weights_equal_brute_force_and_sum_to_the_odds_change(seed):
    rng = np.random.default_rng(seed)
    network = random_network(rng, n_conditions=4, n_findings=5, extreme=seed >= 5)
    engine = ExactEngine(network)
    evidence = _random_evidence(rng, network)
    items = list(evidence)
    for j, condition in enumerate(network.conditions):
        frame = explain_condition(engine, encode_evidence(network, evidence), condition)
        # each chain weight: log odds after the first i items minus after the first i - 1, enumerated
        expected = [_bf_log_odds(network, {k: evidence[k] for k in items[: i + 1]}, j)
                    - _bf_log_odds(network, {k: evidence[k] for k in items[:i]}, j) for i in range(len(items))]
        got = frame.set_index("node").loc[items, "woe"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
        # and their sum is the change from prior to posterior log odds, posteriors by enumeration
        _, post = brute_force(network, encode_evidence(network, evidence))
        _, prior = brute_force(network, encode_evidence(network, {}))
        if 1e-6 < post[j] < 1 - 1e-6:
            assert frame["woe"].sum() == pytest.approx(_logit(post[j]) - _logit(prior[j]), abs=1e-9)
        assert frame["woe"].sum() == pytest.approx(_bf_log_odds(network, evidence, j) - _bf_log_odds(network, {}, j),
                                                   rel=1e-9, abs=1e-9)
        assert frame.attrs["posterior"] == pytest.approx(post[j], abs=1e-12)


def test_order_free_weights_are_the_first_and_last_of_a_chain(small_model):
    evidence = {"trauma": "present", "trabeculated_bone": "present", "peripheral_rim": "present",
                "neck_involved": "absent", "age_band": "adult"}
    forward = small_model.explain(evidence, "myositis_ossificans")
    backward = small_model.explain(evidence, "myositis_ossificans", order=list(evidence)[::-1])
    first, last = "trauma=present", "age_band=adult"
    assert forward.loc[first, "position"] == 1 and backward.loc[first, "position"] == 5
    assert forward.loc[first, "woe"] == pytest.approx(forward.loc[first, "woe_alone"], abs=1e-12)
    assert backward.loc[first, "woe"] == pytest.approx(forward.loc[first, "woe_last"], abs=1e-12)
    assert backward.loc[last, "woe"] == pytest.approx(backward.loc[last, "woe_alone"], abs=1e-12)
    # the rim has one cause, the condition itself: whatever else is known, it weighs log(0.8 / 0.05);
    # trabeculated bone also comes from fop, whose probability the other items change
    rim = forward.loc["peripheral_rim=present"]
    for column in ("woe", "woe_alone", "woe_last"):
        assert rim[column] == pytest.approx(np.log(0.8 / 0.05), abs=1e-12)
    bone = forward.loc["trabeculated_bone=present"]
    assert abs(bone["woe_last"] - bone["woe_alone"]) > 0.01
    # the order moves weight between items but not the total
    assert forward["woe"].sum() == pytest.approx(backward["woe"].sum(), abs=1e-12)
    assert not np.allclose(forward.loc[backward.index, "woe"], backward["woe"])
    # the frame is ranked, and the cumulative log odds ends at the posterior's
    assert forward["woe"].is_monotonic_decreasing
    assert forward.sort_values("position")["log_odds_after"].iloc[-1] == pytest.approx(
        forward.attrs["posterior_log_odds"], abs=1e-12)
    np.testing.assert_allclose(forward["likelihood_ratio"], np.exp(forward["woe"]))


def test_hand_calculated_weight_with_the_context_known(small_model):
    # given trauma, P(myositis) = 0.5; a peripheral rim has P 0.8 with myositis and 0.05 (the leak)
    # without it, and no other condition causes it: weight log(0.8 / 0.05)
    frame = small_model.explain({"trauma": "present", "peripheral_rim": "present"}, "myositis_ossificans")
    assert frame.loc["peripheral_rim=present", "woe"] == pytest.approx(np.log(0.8 / 0.05), abs=1e-12)
    assert frame.loc["trauma=present", "woe"] == pytest.approx(_logit(0.5) - _logit(0.185), abs=1e-12)
    assert frame.attrs["prior"] == pytest.approx(0.185, abs=1e-12)


def test_side_by_side_columns_match_single_explanations_and_sum_per_condition(small_model):
    evidence = {"age_band": "child", "neck_involved": "present", "trabeculated_bone": "present",
                "amorphous_mineral": "absent"}
    frame = small_model.explain(evidence, top=3)
    posteriors = small_model.posteriors(evidence)
    assert list(frame.columns) == list(posteriors.index[:3])
    for condition in frame.columns:
        single = small_model.explain(evidence, condition)
        np.testing.assert_allclose(frame[condition], single.loc[frame.index, "woe"], rtol=0, atol=1e-12)
        change = _logit(posteriors.loc[condition, "posterior"]) - _logit(posteriors.loc[condition, "prior"])
        assert frame[condition].sum() == pytest.approx(change, abs=1e-9)
    spread = frame.max(axis=1) - frame.min(axis=1)
    assert spread.is_monotonic_decreasing
    np.testing.assert_allclose(frame.attrs["spread"], spread)


def test_real_network_weights_sum_to_the_odds_change(model):
    rng = np.random.default_rng(5)
    findings = list(model.findings)
    for _ in range(2):
        chosen = rng.choice(findings, size=7, replace=False)
        evidence = {str(f): model.states(f)[-1 if i < 2 else 0] for i, f in enumerate(chosen)}
        evidence[model.context[0]] = model.states(model.context[0])[-1]
        posteriors = model.posteriors(evidence)
        frame = model.explain(evidence, top=6)
        for condition in frame.columns:
            # the chain starts from the population's prior (no evidence item at all)
            post, prior = posteriors.loc[condition, "posterior"], model.priors[condition]
            if 1e-12 < post < 1 - 1e-6:   # logit from the posterior itself is exact enough here
                assert frame[condition].sum() == pytest.approx(_logit(post) - _logit(prior), abs=1e-9)
            assert frame[condition].sum() == pytest.approx(
                frame.attrs["posterior_log_odds"][condition] - frame.attrs["prior_log_odds"][condition], abs=1e-9)
        top = posteriors.index[0]
        single = model.explain(evidence, top)
        np.testing.assert_allclose(single.loc[frame.index, "woe"], frame[top], rtol=0, atol=1e-9)
        # the clamped-query path (posterior above 1/2) against the plain one
        absent = model.answer({**evidence, top: "absent"}).log_evidence
        present = model.answer({**evidence, top: "present"}).log_evidence
        assert single.attrs["posterior_log_odds"] == pytest.approx(present - absent, abs=1e-9)


def test_explaining_nothing_gives_an_empty_frame(small_model):
    frame = small_model.explain({}, "fop")
    assert frame.empty and frame.attrs["prior"] == pytest.approx(0.014, abs=1e-12)


def test_bad_requests_name_the_problem(small_model):
    evidence = {"trauma": "present", "peripheral_rim": "present"}
    with pytest.raises(UnknownNameError, match="unknown condition 'myositis'; did you mean 'myositis_ossificans'"):
        small_model.explain(evidence, "myositis")
    with pytest.raises(EvidenceError, match="cannot explain fop: it is itself part of the evidence"):
        small_model.explain({**evidence, "fop": "present"}, "fop")
    with pytest.raises(EvidenceError, match="order must name every observed node exactly once; missing trauma"):
        small_model.explain(evidence, "fop", order=["peripheral_rim"])
    with pytest.raises(UnknownNameError, match="unknown observed node in order 'neck_involved'"):
        small_model.explain(evidence, "fop", order=["peripheral_rim", "neck_involved"])
    with pytest.raises(BayesnetError, match="top must be a positive number of conditions, got 0"):
        small_model.explain(evidence, top=0)


def test_observed_conditions_are_left_out_of_the_comparison(small_model):
    frame = small_model.explain({"fop": "present", "neck_involved": "present"})
    assert "fop" not in frame.columns and len(frame.columns) == 2


def test_command_line_explains_one_condition_and_compares_the_top(capsys):
    from bayesnet.cli.main import main

    small = ["--priors", "tests/data/small"]
    assert main([*small, "explain", "trauma=present", "peripheral_rim=present", "--condition",
                 "myositis_ossificans"]) == 0
    out = capsys.readouterr().out
    assert "myositis_ossificans: prior 0.1850 -> posterior" in out
    assert "peripheral_rim=present" in out and "+2.773" in out          # log(0.8 / 0.05)
    assert main([*small, "explain", "trauma=present", "peripheral_rim=present", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "spread" in out and "(change in log odds)" in out and "calcinosis" in out and "fop" not in out
    assert main([*small, "explain", "peripheral_rim=present", "--condition", "fop", "--json"]) == 0
    import json

    payload = json.loads(capsys.readouterr().out)
    assert payload["condition"] == "fop" and payload["items"][0]["evidence"] == "peripheral_rim=present"


def test_command_line_bad_condition_is_one_message(capsys):
    from bayesnet.cli.main import main

    assert main(["--priors", "tests/data/small", "explain", "peripheral_rim=present", "--condition", "fopp"]) == 2
    err = capsys.readouterr().err
    assert err == "bayesnet: error: unknown condition 'fopp'; did you mean 'fop'?\n"
