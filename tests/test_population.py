"""The population and explaining away: a presenting finding that every condition of its compartment
causes, base-rate priors, and the probability that no modelled condition explains the mineral."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesnet.inference.engine import ExactEngine
from bayesnet.inference.evidence import encode_evidence

from bruteforce import brute_force_items, random_items, random_network_with_kinds

LUNG = ("dipo_idiopathic", "dipo_secondary")
SARCOMAS = ("extraskeletal_osteosarcoma", "parosteal_osteosarcoma", "osteosarcoma_of_bone",
            "extraskeletal_chondrosarcoma", "synovial_sarcoma")


def soft_tissue_conditions(model):
    return [c for c in model.conditions if c not in LUNG]


@pytest.mark.parametrize("evidence", [
    {"mineral_lung": "present"},
    {"mineral_lung": "present", "mineral_soft_tissue": "absent"},
    {"mineral_lung": "present", "lung_ossification": "present", "age_band": "young_adult", "trauma": "present"},
    {"mineral_lung": "present", "lung_distribution": "widespread", "age_band": "older", "lung_disease": "present"},
])
def test_in_a_lung_only_case_no_soft_tissue_condition_is_above_five_percent(model, evidence):
    frame = model.posteriors(evidence)
    assert frame.loc[soft_tissue_conditions(model), "posterior"].max() < 0.05, frame.head().to_string()


@pytest.mark.parametrize("evidence", [
    {"mineral_soft_tissue": "present"},
    {"mineral_soft_tissue": "present", "trabeculated_bone": "present", "age_band": "older", "lung_disease": "present"},
    {"mineral_soft_tissue": "present", "extent": "widespread", "progressive_course": "present"},
    {"mineral_soft_tissue": "present", "mineral_lung": "absent", "age_band": "middle_aged"},
])
def test_in_a_soft_tissue_only_case_no_pulmonary_condition_is_above_one_percent(model, evidence):
    frame = model.posteriors(evidence)
    assert frame.loc[list(LUNG), "posterior"].max() < 0.01, frame.loc[list(LUNG)].to_string()


@pytest.mark.parametrize("presenting", [{}, {"mineral_soft_tissue": "present"}, {"mineral_lung": "present"}])
def test_the_referral_table_is_plausible(model, presenting):
    table = model.referral_priors(presenting)
    assert table["prior"].max() <= 0.3, table.head().to_string()
    soft = model.referral_priors({"mineral_soft_tissue": "present"})["prior"]
    assert soft["fop"] < soft[list(SARCOMAS)].sum()
    assert 0.0 < table.attrs["none"] < 1.0
    # the base rates are population rates: small, far below the referral priors of the compartment
    assert (table["base_rate"] < 0.01).all()


def test_a_condition_that_explains_the_mineral_lowers_the_others(model):
    referral = model.referral_priors({"mineral_soft_tissue": "present"})["prior"]
    frame = model.posteriors({"mineral_soft_tissue": "present", "malformed_great_toe": "present",
                              "c2_c7_facet_fusion": "present"})
    assert frame.index[0] == "fop"
    others = frame.drop(index=["fop"])
    untouched = [c for c in others.index if c not in LUNG]
    # every other soft-tissue condition falls below its referral prior: the mineral is explained
    assert (others.loc[untouched, "posterior"] < referral[untouched]).all()
    assert frame.attrs["none"] < model.referral_priors({"mineral_soft_tissue": "present"}).attrs["none"]


def test_both_compartments_absent_is_impossible_and_says_so(model):
    from bayesnet.errors import ImpossibleEvidenceError

    with pytest.raises(ImpossibleEvidenceError, match="mineral_soft_tissue=absent, mineral_lung=absent"):
        model.posteriors({"mineral_soft_tissue": "absent", "mineral_lung": "absent"})


def test_leaving_a_compartment_absent_points_to_the_other(model):
    lung = model.posteriors({"mineral_soft_tissue": "absent"})
    stated = model.posteriors({"mineral_soft_tissue": "absent", "mineral_lung": "present"})
    np.testing.assert_allclose(lung["posterior"], stated["posterior"].loc[lung.index], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_the_probability_of_no_modelled_condition_equals_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    network = random_network_with_kinds(rng, presenting=2)
    engine = ExactEngine(network)
    for _ in range(4):
        evidence = {k: v for k, v in random_items(rng, network).items() if k not in network.conditions}
        total, _ = brute_force_items(network, evidence)
        none, _ = brute_force_items(network, {**evidence, **{c: "absent" for c in network.conditions}})
        if total == 0:
            continue
        answer = engine.query(encode_evidence(network, evidence))      # computed in the same pass as the posteriors
        assert answer.none == pytest.approx(none / total, abs=1e-9)
        assert answer.log_none == pytest.approx(np.log(none), abs=1e-9) if none > 0 else answer.log_none == -np.inf


def test_the_differential_reports_no_modelled_condition_as_the_model_method_does(model):
    evidence = {"mineral_soft_tissue": "present", "rings_and_arcs": "present", "soft_tissue_mass": "present"}
    frame = model.posteriors(evidence)
    assert frame.attrs["none"] == pytest.approx(model.none_probability(evidence), abs=1e-12)
    assert model.none_probability({**evidence, "fop": "present"}) == 0.0


@pytest.mark.parametrize("evidence, implied", [
    ({"mineral_soft_tissue": "absent"}, "mineral_lung=present"),
    ({"mineral_lung": "absent", "soft_tissue_mass": "present"}, "mineral_soft_tissue=present"),
    ({"mineral_soft_tissue": [1.0, 0.0]}, "mineral_lung=present"),
    ({"mineral_soft_tissue": "absent", "mineral_lung": "present"}, None),
    ({"mineral_soft_tissue": [1.0, 0.5]}, None),
    ({"soft_tissue_mass": "present"}, None),
])
def test_a_presenting_finding_implied_by_the_others_absence_is_said(model, evidence, implied):
    """mineral_soft_tissue=absent alone answers a lung case: the differential says so rather than
    silently ranking the lung conditions, and the implied finding gives the same answer as entering it."""
    frame = model.posteriors(evidence)
    assert frame.attrs["implied"] == implied
    if implied:
        node, state = implied.split("=")
        entered = model.posteriors({**evidence, node: state})
        pd.testing.assert_series_equal(frame["posterior"], entered["posterior"], rtol=0, atol=1e-12)


def test_the_command_line_says_which_presenting_finding_it_implied(capsys):
    from bayesnet.cli.main import main

    assert main(["query", "mineral_soft_tissue=absent", "soft_tissue_mass=present", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1].startswith("answered with mineral_lung=present implied")
    assert main(["query", "mineral_soft_tissue=present", "--top", "2"]) == 0
    assert "implied" not in capsys.readouterr().out
