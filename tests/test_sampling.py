"""Synthetic cohorts: drawn exactly from the model given the population, in the cohort format."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesnet.cli.main import main
from bayesnet.cohort.files import read_cohort
from bayesnet.errors import BayesnetError

CASES = 200_000


@pytest.fixture(scope="module")
def cohort(model):
    return model.sample(CASES, seed=11)


def within_sampling_error(frequency: np.ndarray, probability: np.ndarray, size: int, sigmas: float = 5.0) -> np.ndarray:
    """|frequency - p| within ``sigmas`` binomial standard errors (with a floor for p near 0)."""
    error = np.sqrt(np.maximum(probability * (1 - probability), 1.0 / size) / size)
    return np.abs(frequency - probability) <= sigmas * error


def test_every_sampled_patient_has_a_presenting_finding_present(model, cohort):
    presenting = [n.name for n in model.knowledge.nodes if n.presenting]
    assert (cohort[presenting] == "present").any(axis=1).all()


def test_condition_frequencies_are_the_models_priors_given_the_population(model, cohort):
    frequency = (cohort[list(model.conditions)] == "present").mean().to_numpy()
    ok = within_sampling_error(frequency, model.priors.to_numpy(), CASES)
    assert ok.all(), list(np.array(model.conditions)[~ok])


def test_finding_and_context_frequencies_are_the_models_marginals_given_the_population(model, cohort):
    population = model.probability_of_evidence({})
    checked = 0
    for node in [*model.context, *model.findings]:
        states = model.states(node)
        frequency = cohort[node].value_counts(normalize=True).reindex(states, fill_value=0.0).to_numpy()
        probability = np.array([model.probability_of_evidence({node: s}) / population for s in states])
        assert probability.sum() == pytest.approx(1.0, abs=1e-9)
        ok = within_sampling_error(frequency, probability, CASES)
        assert ok.all(), (node, frequency, probability)
        checked += 1
    assert checked == len(model.context) + len(model.findings)


def test_the_same_seed_gives_the_same_cohort_and_another_seed_another(model):
    a, b, c = model.sample(500, seed=0), model.sample(500, seed=0), model.sample(500, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_missing_shares_leave_cells_unobserved_at_random_and_never_absent(model):
    frame = model.sample(20_000, seed=3, missing=0.3, missing_labels=0.5)
    findings = frame[list(model.findings)]
    share = findings.isna().to_numpy().mean()
    assert abs(share - 0.3) < 0.01
    assert abs(frame[list(model.conditions)].isna().to_numpy().mean() - 0.5) < 0.01
    assert frame[list(model.context)].notna().all().all()
    complete = model.sample(20_000, seed=3)
    # a hidden cell is hidden, not turned into another state: where observed, the cells agree
    observed = findings.notna()
    assert (findings[observed].astype(object) == complete[list(model.findings)][observed].astype(object)).sum().sum() \
        == observed.sum().sum()


def test_a_mask_per_node_hides_only_that_node(model):
    frame = model.sample(2_000, seed=2, missing={"extent": 1.0, "soft_tissue_mass": 0.5})
    assert frame["extent"].isna().all()
    assert 0.4 < frame["soft_tissue_mass"].isna().mean() < 0.6
    assert frame.drop(columns=["extent", "soft_tissue_mass"]).notna().all().all()


def test_bad_arguments_name_what_is_valid(model):
    with pytest.raises(BayesnetError, match="positive whole number"):
        model.sample(0)
    with pytest.raises(BayesnetError, match="between 0 and 1"):
        model.sample(10, missing=1.5)
    with pytest.raises(BayesnetError, match="soft_tissue_mas"):
        model.sample(10, missing={"soft_tissue_mas": 0.1})


def test_a_sampled_cohort_scores_as_it_is(model):
    frame = model.sample(300, seed=5, missing=0.2, labels=False)
    scores = model.posteriors_batch(frame)
    assert len(scores) == 300 and np.isfinite(scores["log_evidence"]).all()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_command_line_writes_a_cohort_that_reads_back_the_same(model, tmp_path, suffix, capsys):
    target = tmp_path / f"cohort{suffix}"
    assert main(["sample", "-n", "400", "-o", str(target), "--seed", "4", "--missing", "0.25", "--no-progress"]) == 0
    back = read_cohort(target, id_column="case_id")
    expected = model.sample(400, seed=4, missing=0.25)
    assert list(back.columns) == list(expected.columns)
    assert len(back) == 400
    assert (back.astype(object).fillna("").to_numpy() == expected.astype(object).fillna("").to_numpy()).all()
    out = tmp_path / f"posteriors{suffix}"
    assert main(["score", str(target), "-o", str(out), "--id", "case_id", "--no-progress"]) == 0
    scored = read_cohort(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(scored) == 400
