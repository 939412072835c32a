"""Every bad-input path names the bad input and what would be valid."""
from __future__ import annotations

from pathlib import Path

import pytest

import bayesnet
from bayesnet.errors import BayesnetError, EvidenceError, ImpossibleEvidenceError, UnknownNameError


def test_unknown_node_suggests_close_names(small_model):
    with pytest.raises(UnknownNameError) as caught:
        small_model.posteriors({"trabeculated_bon": "present"})
    assert str(caught.value) == "unknown node 'trabeculated_bon'; did you mean 'trabeculated_bone'?"


def test_unknown_state_suggests_close_states(small_model):
    with pytest.raises(UnknownNameError) as caught:
        small_model.posteriors({"trauma": "presnt"})
    assert str(caught.value) == "unknown state of trauma 'presnt'; did you mean 'present'?"


def test_unknown_state_with_no_close_match_lists_the_valid_ones(small_model):
    with pytest.raises(UnknownNameError) as caught:
        small_model.posteriors({"age_band": "elderly"})
    assert "valid: child, adult" in str(caught.value)


@pytest.mark.parametrize("value, words", [
    ([0.5], "must have 2 numbers (one per state: absent, present), got [0.5]"),
    ([0.5, -1.0], "must be finite and non-negative"),
    ([0.0, 0.0], "is zero for every state, so it is impossible"),
    ({"present": 1.0}, "must give a likelihood for every state (absent, present); missing absent"),
    (3, "must be a state (absent, present) or a likelihood vector of 2 numbers, got 3"),
])
def test_malformed_soft_evidence_is_named(small_model, value, words):
    with pytest.raises(EvidenceError) as caught:
        small_model.posteriors({"peripheral_rim": value})
    assert "peripheral_rim" in str(caught.value) and words in str(caught.value)


@pytest.fixture()
def certain_link(small_copy: Path) -> Path:
    """The small knowledge base with myositis always producing trabeculated bone, and no children."""
    links = small_copy / "links.csv"
    links.write_text(links.read_text().replace("trabeculated_bone,,myositis_ossificans,0.7,0.5,0.9",
                                               "trabeculated_bone,,myositis_ossificans,1.0,0.5,1.0"))
    priors = small_copy / "context_priors.csv"
    priors.write_text(priors.read_text().replace("age_band,child,0.2,0.1,0.3", "age_band,child,0.0,0.0,0.3")
                      .replace("age_band,adult,0.8,0.7,0.9", "age_band,adult,1.0,0.7,1.0"))
    return small_copy


def test_impossible_combination_names_exactly_the_items_responsible(certain_link):
    model = bayesnet.load(certain_link)
    with pytest.raises(ImpossibleEvidenceError) as caught:
        model.posteriors({"neck_involved": "present", "myositis_ossificans": "present", "trabeculated_bone": "absent"})
    assert str(caught.value) == ("the evidence is impossible under the model (probability zero): "
                                 "myositis_ossificans=present, trabeculated_bone=absent cannot all hold together")
    assert caught.value.culprits == ("myositis_ossificans=present", "trabeculated_bone=absent")


def test_impossible_single_item_is_named(certain_link):
    model = bayesnet.load(certain_link)
    with pytest.raises(ImpossibleEvidenceError, match=r"^the evidence age_band=child is impossible under the model"):
        model.posteriors({"age_band": "child", "peripheral_rim": "present"})
    assert model.probability_of_evidence({"age_band": "child"}) == 0.0


def test_every_user_error_is_a_bayesnet_error():
    for error in (EvidenceError, ImpossibleEvidenceError, UnknownNameError, bayesnet.KnowledgeBaseError):
        assert issubclass(error, BayesnetError)


def test_evidence_must_be_a_mapping(small_model):
    with pytest.raises(EvidenceError, match="evidence must be a mapping from node to state, got list"):
        small_model.posteriors(["peripheral_rim=present"])


@pytest.mark.parametrize("value, words", [
    ("!elderly", "unknown state of age_band 'elderly'"),
    ("child,elderly", "unknown state of age_band 'elderly'"),
    ("!child,adult", "rules out every state of age_band (child, adult), so it is impossible"),
])
def test_a_bad_set_of_states_is_named(small_model, value, words):
    with pytest.raises(BayesnetError) as caught:
        small_model.posteriors({"age_band": value})
    assert words in str(caught.value)
