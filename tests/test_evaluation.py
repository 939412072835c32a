"""bayesnet evaluate: top-k, the truth's posterior, Brier score and calibration against direct queries."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesnet.errors import BayesnetError, UnknownNameError
from bayesnet.analysis.evaluation import calibration_figure, evaluate, log_bayes_factors, read_cases

CASES = pd.DataFrame({
    "case": ["a", "b", "c", "d"],
    "condition": ["fop", "myositis_ossificans", "calcinosis", "fop"],
    "evidence": ["neck_involved=present malformed_great_toe=present", "trauma=present peripheral_rim=present",
                 "amorphous_mineral=present", "trauma=present"],
})


def test_ranks_and_scores_equal_direct_queries(small_model):
    result = evaluate(small_model, CASES)
    for row in result.cases.itertuples():
        evidence = dict(item.split("=") for item in CASES.set_index("case").loc[row.case, "evidence"].split())
        frame = small_model.posteriors(evidence)
        assert row.rank == list(frame.index).index(row.condition) + 1
        assert row.posterior == pytest.approx(frame.loc[row.condition, "posterior"], abs=1e-15)
        assert row.top == frame.index[0]
    ranks = result.cases["rank"]
    assert result.summary["top1"] == pytest.approx((ranks == 1).mean())
    assert result.summary["top3"] == pytest.approx((ranks <= 3).mean())
    # Brier: per case, the sum over conditions of (p - [condition is the reported one])^2, averaged
    brier = np.mean([((small_model.posteriors(dict(i.split("=") for i in e.split()))["posterior"]
                       - (small_model.posteriors(dict(i.split("=") for i in e.split())).index == c)) ** 2).sum()
                     for c, e in zip(CASES["condition"], CASES["evidence"])])
    assert result.summary["brier"] == pytest.approx(brier, abs=1e-12)
    assert result.by_condition.loc["fop", "cases"] == 2
    assert result.calibration["pairs"].sum() == len(CASES) * len(small_model.conditions)


def test_the_bayes_factor_is_the_ratio_of_the_evidence_given_present_and_absent(model):
    """log P(e | C present) / P(e | C absent), computed from joint probabilities of the evidence with
    the condition clamped, equals the posterior's log odds minus the referral prior's."""
    evidence = {"connective_tissue_disease": "lupus", "site_lower_legs": "present", "soft_tissue_mass": "present"}
    factors = log_bayes_factors(model.posteriors(evidence))
    for condition in ["calcification_lupus", "myositis_ossificans_traumatic", "fop", "dipo_idiopathic"]:
        joint = [model.probability_of_evidence({**evidence, condition: s}) for s in ("present", "absent")]
        alone = [model.probability_of_evidence({condition: s}) for s in ("present", "absent")]
        expected = np.log(joint[0] / joint[1]) - np.log(alone[0] / alone[1])
        assert factors[condition] == pytest.approx(expected, abs=1e-9)


def test_ranks_at_equal_prior_odds_follow_the_bayes_factors(small_model):
    result = evaluate(small_model, CASES)
    for row in result.cases.itertuples():
        evidence = dict(item.split("=") for item in CASES.set_index("case").loc[row.case, "evidence"].split())
        factors = log_bayes_factors(small_model.posteriors(evidence))
        truth = factors[row.condition]
        assert (factors > truth).sum() + 1 <= row.rank_equal_odds <= (factors >= truth).sum()
    assert result.summary["top3_equal_odds"] == pytest.approx((result.cases["rank_equal_odds"] <= 3).mean())
    # case b: myositis ossificans has the only factor above zero, so it is first at equal odds too
    assert result.cases.set_index("case").loc["b", "rank_equal_odds"] == 1


def test_wrong_tops_count_and_share_the_cases_of_other_conditions(small_model):
    result = evaluate(small_model, CASES)
    wrong = result.cases[result.cases["top"] != result.cases["condition"]]
    for condition, row in result.wrong_tops.iterrows():
        count = int((wrong["top"] == condition).sum())
        assert row["wrongly_on_top"] == count
        assert row["share_of_other_cases"] == pytest.approx(count / int((CASES["condition"] != condition).sum()))


def test_unknown_condition_and_bad_evidence_are_named(small_model):
    with pytest.raises(UnknownNameError, match="unknown condition 'fopp'"):
        evaluate(small_model, CASES.assign(condition=["fopp", "fop", "fop", "fop"]))
    result = evaluate(small_model, CASES.assign(evidence=["neck=present", *CASES["evidence"][1:]]))
    assert list(result.errors["case"]) == ["a"] and "unknown node 'neck'" in result.errors["message"][0]
    assert len(result.cases) == 3


def test_a_case_file_needs_its_columns(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("case,evidence\na,trauma=present\n", encoding="utf-8")
    with pytest.raises(BayesnetError, match="lacks the column"):
        read_cases(path)


def test_the_command_writes_the_report_and_the_calibration_plot(small_copy, tmp_path, capsys):
    from bayesnet.cli.main import main

    path = tmp_path / "cases.csv"
    CASES.to_csv(path, index=False)
    png = tmp_path / "calibration.png"
    assert main(["--priors", str(small_copy), "evaluate", str(path), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("4 cases: top-1") and "Brier score" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figure = calibration_figure(evaluate(__import__("bayesnet").load(small_copy), CASES))
    assert figure.axes[0].get_xlabel().startswith("predicted")


@pytest.mark.parametrize("name, least, uncovered", [("development_cases.csv", 60, 0), ("held_out_cases.csv", 40, 1)])
def test_the_case_sets_are_valid_for_the_shipped_model(model, name, least, uncovered):
    """Every case of the development and the held-out set parses, names a condition of the model and
    is possible; the development set covers every condition, the held-out set all but burns HO (its
    one report described two patients together and was left out); the two sets share no source."""
    folder = Path(__file__).parent / "data"
    cases = read_cases(folder / name)
    assert len(cases) >= least and cases["case"].is_unique
    assert cases["source"].str.contains(r"10\.\d{4,9}/|https?://").all()
    result = evaluate(model, cases)
    assert result.errors.empty, result.errors.to_string()
    assert cases["condition"].nunique() == len(model.conditions) - uncovered
    other = read_cases(folder / ("held_out_cases.csv" if name == "development_cases.csv" else "development_cases.csv"))
    assert not set(cases["source"]) & set(other["source"])
