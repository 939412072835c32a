"""What-if on the verbal scale, and reading scenario sets and scales."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bayesnet
from bayesnet.errors import KnowledgeBaseError
from bayesnet.knowledge.base import VerbalPhrase
from bayesnet.analysis.scenarios import ScenarioError, read_scenarios
from bayesnet.analysis.verbal_whatif import read_verbal_scale, rescaled_knowledge, stretched_scale, verbal_what_if

SCENARIOS = Path(__file__).parent / "data" / "small_scenarios.csv"


def test_stretching_moves_each_phrase_on_the_log_odds_scale(small_model):
    scale = small_model.knowledge.verbal_scale
    extreme = {v.phrase: v for v in stretched_scale(scale, 1.5)}
    cautious = {v.phrase: v for v in stretched_scale(scale, 1 / 1.5)}
    # usually 0.8: logit 4 -> 4^1.5 = 8 -> 8/9; 4^(2/3) = 2.52 -> 0.716
    assert extreme["usually"].value == pytest.approx(8 / 9, abs=1e-12)
    assert cautious["usually"].value == pytest.approx(4 ** (2 / 3) / (1 + 4 ** (2 / 3)), abs=1e-12)
    assert extreme["may"].value < 0.3 < cautious["may"].value < 0.5
    for v in extreme.values():
        assert v.low <= v.value <= v.high
    same = stretched_scale(scale, 1.0)
    np.testing.assert_allclose([(v.value, v.low, v.high) for v in same], [(v.value, v.low, v.high) for v in scale],
                               rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="factor must be a positive number, got 0"):
        stretched_scale(scale, 0)


def test_what_if_with_an_unchanged_scale_changes_nothing(small_model):
    scenarios = [(s.case, s.evidence) for s in read_scenarios(SCENARIOS)]
    frame = verbal_what_if(small_model, scenarios, {"same": small_model.knowledge.verbal_scale})
    assert list(frame["scenario"]) == [case for case, _ in scenarios]
    assert not frame["top_changed"].any()
    assert frame["max_change"].max() == 0.0
    assert (frame["rank_correlation"] == 1.0).all()


def test_what_if_equals_a_model_built_on_the_other_scale(small_model):
    scale = stretched_scale(small_model.knowledge.verbal_scale, 1.5)
    evidence = {"age_band": "child", "trabeculated_bone": "present", "neck_involved": "present"}
    frame = verbal_what_if(small_model, {"case": evidence}, {"extreme": scale})
    other = bayesnet.Model(small_model.knowledge.with_verbal_scale(scale)).posteriors(evidence)
    row = frame.iloc[0]
    assert row["new_top"] == other.index[0] == "fop"
    assert row["new_top_posterior"] == pytest.approx(other["posterior"].iloc[0], abs=1e-15)
    before = small_model.posteriors(evidence)["posterior"]
    assert row["max_change"] == pytest.approx((other["posterior"] - before).abs().max(), abs=1e-15)
    assert row["max_change"] > 0.01


def test_a_verbal_value_below_its_leak_is_raised_to_the_leak(small_model):
    # "often" (malformed toe from fop, leak 0.001) read as 0.0002 would be a cause that lowers its effect
    scale = tuple(VerbalPhrase(v.phrase, 0.0002, 0.0001, 0.0005, v.anchor, v.note) if v.phrase == "often" else v
                  for v in small_model.knowledge.verbal_scale)
    kb, raised = rescaled_knowledge(small_model.knowledge, scale)
    assert raised == ("link:malformed_great_toe<-fop",)
    link = next(p for p in kb.parameters if p.name == "link:malformed_great_toe<-fop")
    assert link.value == 0.001
    model = bayesnet.Model(kb)
    assert model.network.link[model.findings.index("malformed_great_toe"), model.conditions.index("fop")] == 0.0
    frame = verbal_what_if(small_model, {"toe": {"malformed_great_toe": "present"}}, {"odd": scale})
    assert frame["raised"].iloc[0] == 1


def test_an_incomplete_scale_names_the_missing_phrases(small_model):
    scale = tuple(v for v in small_model.knowledge.verbal_scale if v.phrase != "often")
    with pytest.raises(KnowledgeBaseError, match="the scale has no 'often'"):
        verbal_what_if(small_model, {"none": {}}, {"short": scale})


def test_reading_a_scale_file_reports_every_problem(tmp_path):
    path = tmp_path / "scale.csv"
    path.write_text("phrase,value,low,high,anchor,note\nusually,0.9,0.8,0.95,,\noften,0.6x,0.4,0.7,,\n"
                    "may,0.3,0.35,0.5,,\nusually,0.8,0.7,0.9,,\n")
    with pytest.raises(KnowledgeBaseError) as caught:
        read_verbal_scale(path)
    problems = [str(p) for p in caught.value.problems]
    assert problems == [
        "scale.csv:3 [value]: expected a probability between 0 and 1, got '0.6x'",
        "scale.csv:4 [low]: expected low <= value <= high, got 0.35 <= 0.3 <= 0.5",
        "scale.csv:5 [phrase]: 'usually' is already on the scale",
    ]
    path.write_text("phrase,value\nusually,0.9\n")
    with pytest.raises(KnowledgeBaseError, match=r"scale.csv:1: missing column\(s\) low, high, anchor, note"):
        read_verbal_scale(path)
    path.write_text("phrase,value,low,high,anchor,note\nusually,0.9,0.8,0.95,probable 85,\n")
    assert read_verbal_scale(path) == (VerbalPhrase("usually", 0.9, 0.8, 0.95, "probable 85", ""),)


def test_reading_scenarios(tmp_path):
    scenarios = read_scenarios(SCENARIOS)
    assert [s.case for s in scenarios] == ["fop_neck", "post_trauma_rim", "amorphous"]
    assert scenarios[0].evidence == {"age_band": "child", "trabeculated_bone": "present", "neck_involved": "present"}
    assert scenarios[0].fields["expected_top"] == "fop"
    path = tmp_path / "cases.csv"
    path.write_text("case,evidence\na,x=present\na,y=present\n")
    with pytest.raises(ScenarioError, match=r"cases.csv:3 \[case\]: 'a' is already used on line 2"):
        read_scenarios(path)
    path.write_text("case,evidence\na,x=present y\n")
    with pytest.raises(ScenarioError, match=r"cases.csv:2 \[evidence\]: evidence must be written node=state, .* node=0.2,0.8 \(one number per state\), got 'y'"):
        read_scenarios(path)
    path.write_text("name,evidence\na,x=present\n")
    with pytest.raises(ScenarioError, match=r"cases.csv:1: missing column\(s\) case; expected at least case, evidence"):
        read_scenarios(path)
    path.write_text('case,evidence\na,"x=0.2,0.8 y=absent"\n')
    assert read_scenarios(path)[0].evidence == {"x": [0.2, 0.8], "y": "absent"}
    with pytest.raises(ScenarioError, match="expected a scenario file"):
        read_scenarios(tmp_path / "missing.csv")
