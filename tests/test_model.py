"""The query API on the small model, against answers worked out by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def test_priors_are_the_no_evidence_posteriors_worked_by_hand(small_model):
    # P(fop) = P(child) P(fop | child) + P(adult) P(fop | adult) = 0.2 * 0.05 + 0.8 * 0.005
    # P(myositis) = P(trauma) 0.5 + P(no trauma) 0.05 = 0.3 * 0.5 + 0.7 * 0.05
    priors = small_model.priors
    assert priors["fop"] == pytest.approx(0.014, abs=1e-12)
    assert priors["myositis_ossificans"] == pytest.approx(0.185, abs=1e-12)
    assert priors["calcinosis"] == pytest.approx(0.2, abs=1e-12)


def test_posterior_with_context_known_worked_by_hand(small_model):
    # given trauma, P(myositis) = 0.5; a peripheral rim has P 0.8 with myositis, 0.05 (leak) without
    frame = small_model.posteriors({"trauma": "present", "age_band": "adult", "peripheral_rim": "present"})
    assert frame.loc["myositis_ossificans", "posterior"] == pytest.approx(0.4 / 0.425, abs=1e-12)
    assert frame.attrs["log_evidence"] == pytest.approx(np.log(0.3 * 0.8 * 0.425), abs=1e-12)


def test_two_causes_of_one_finding_worked_by_hand(small_model):
    # neck_involved: leak 0.05; fop alone 0.8 (usually); calcinosis alone 0.1. Adult, no trauma known.
    leak, v_fop, v_cal = 0.05, 0.8, 0.1
    p_fop, p_cal = 1 - (1 - v_fop) / (1 - leak), 1 - (1 - v_cal) / (1 - leak)
    f, c = 0.005, 0.2
    joint = {}
    for d_f in (0, 1):
        for d_c in (0, 1):
            absent = (1 - leak) * (1 - p_fop) ** d_f * (1 - p_cal) ** d_c
            joint[d_f, d_c] = (f if d_f else 1 - f) * (c if d_c else 1 - c) * (1 - absent)
    total = sum(joint.values())
    frame = small_model.posteriors({"age_band": "adult", "neck_involved": "present"})
    assert frame.loc["fop", "posterior"] == pytest.approx((joint[1, 0] + joint[1, 1]) / total, abs=1e-12)
    assert frame.loc["calcinosis", "posterior"] == pytest.approx((joint[0, 1] + joint[1, 1]) / total, abs=1e-12)


def test_frame_is_ranked_with_prior_and_ratio(small_model):
    frame = small_model.posteriors({"trabeculated_bone": "present"})
    assert list(frame.columns) == ["posterior", "prior", "ratio"]
    assert frame.index.name == "condition"
    assert set(frame.index) == set(small_model.conditions)
    assert frame["posterior"].is_monotonic_decreasing
    np.testing.assert_allclose(frame["ratio"], frame["posterior"] / frame["prior"])
    np.testing.assert_allclose(frame["prior"], small_model.priors[frame.index])


def test_soft_evidence_forms_agree_and_scale_does_not_matter(small_model):
    hard = small_model.posteriors({"peripheral_rim": "present"})["posterior"]
    one_hot = small_model.posteriors({"peripheral_rim": [0.0, 1.0]})["posterior"]
    pd.testing.assert_series_equal(hard, one_hot, rtol=0, atol=1e-14)
    a = small_model.posteriors({"peripheral_rim": [0.2, 0.6]})["posterior"]
    b = small_model.posteriors({"peripheral_rim": {"absent": 0.1, "present": 0.3}})["posterior"]
    pd.testing.assert_series_equal(a, b, rtol=0, atol=1e-14)
    assert not np.allclose(a, hard)


def test_none_means_unobserved(small_model):
    with_none = small_model.posteriors({"peripheral_rim": "present", "trauma": None})
    without = small_model.posteriors({"peripheral_rim": "present"})
    pd.testing.assert_frame_equal(with_none, without)


def test_evidence_on_a_condition_fixes_it(small_model):
    frame = small_model.posteriors({"fop": "present", "trabeculated_bone": "present"})
    assert frame.loc["fop", "posterior"] == 1.0
    assert small_model.posteriors({"fop": "absent"}).loc["fop", "posterior"] == 0.0


def test_vocabulary_is_discoverable(small_model):
    nodes = small_model.nodes()
    assert set(nodes["type"]) == {"context", "condition", "finding"}
    assert nodes.loc["age_band", "states"] == "child|adult"
    assert (nodes["description"].str.len() > 0).all()
    assert small_model.states("trauma") == ("absent", "present")
    assert small_model.context == ("age_band", "trauma")


def test_engine_agrees_with_pgmpy_on_the_small_model(small_model):
    evidence = {"age_band": "child", "neck_involved": "present", "amorphous_mineral": "absent",
                "peripheral_rim": [0.3, 0.9]}
    ours = small_model.posteriors(evidence)["posterior"]
    theirs = small_model.reference_posteriors(evidence)
    np.testing.assert_allclose(ours[theirs.index], theirs, rtol=0, atol=1e-9)


@pytest.mark.parametrize("node, value, vector, with_pgmpy", [
    ("connective_tissue_disease", "!none", [0.0, 1.0, 1.0, 1.0], True),
    ("connective_tissue_disease", "systemic_sclerosis,lupus", [0.0, 1.0, 0.0, 1.0], False),
    ("connective_tissue_disease", "!dermatomyositis, lupus", [1.0, 1.0, 0.0, 0.0], False),
    ("extent", "single_site,multifocal", [1.0, 1.0, 0.0], True),
    ("duration", "!under_3_months", [0.0, 1.0, 1.0], False),
])
def test_a_set_of_states_is_the_likelihood_that_is_one_on_the_set(model, node, value, vector, with_pgmpy):
    """``a,b`` (one of these states) and ``!a`` (not this state) narrow a node without naming its
    state: the same answer as the 0/1 likelihood, and (on a context node and an ordered finding,
    about 6 s each) the same as pgmpy's."""
    base = {"mineral_soft_tissue": "present", "soft_tissue_mass": "present", "site_periarticular_large_joint": "present"}
    as_set = model.posteriors({**base, node: value})["posterior"]
    as_vector = model.posteriors({**base, node: vector})["posterior"]
    pd.testing.assert_series_equal(as_set, as_vector, rtol=0, atol=1e-15)
    if with_pgmpy:
        reference = model.reference_posteriors({**base, node: value})
        np.testing.assert_allclose(as_set[reference.index], reference, rtol=0, atol=1e-9)
    unobserved = model.posteriors(base)["posterior"]
    assert not np.allclose(as_set[unobserved.index], unobserved)


def test_a_set_of_states_on_the_command_line_reads_back_as_it_was_written():
    from bayesnet.inference.evidence import describe, parse_evidence

    tokens = ["connective_tissue_disease!=none", "extent=single_site,multifocal", "trauma=present", "pain_or_tenderness=0.2,0.8"]
    evidence = parse_evidence(tokens)
    assert evidence == {"connective_tissue_disease": "!none", "extent": "single_site,multifocal", "trauma": "present",
                        "pain_or_tenderness": [0.2, 0.8]}
    assert [describe(n, v) for n, v in evidence.items()][:3] == tokens[:3]
