"""Fitting from a cohort: exact expected counts (checked against the likelihood's own gradient),
a log posterior that never decreases, ranges kept, and a fitted folder that loads and shows its priors."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import bayesnet
from bayesnet.analysis.montecarlo import sample as draw_records, uncertainty
from bayesnet.analysis.parameters import batch_from_records
from bayesnet.cli.main import main
from bayesnet.cohort.scoring import encode_frame
from bayesnet.errors import BayesnetError, KnowledgeBaseError
from bayesnet.inference.engine import ExactEngine
from bayesnet.learning.fitting import (_native, _phantom, _stats_of, network_with, readings as record_readings,
                                      units_of)
from bayesnet.learning.sampling import sample_cohort
from bayesnet.knowledge.network import NoisyOrNetwork, alone_from_cause
from bayesnet.learning.statistics import expected_statistics
from conftest import SMALL


def hide(frame: pd.DataFrame, columns, share: float, seed: int) -> pd.DataFrame:
    """``frame`` with a share of the cells of ``columns`` emptied at random."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    for column in columns:
        frame.loc[rng.random(len(frame)) < share, column] = np.nan
    return frame


def log_likelihood(model, units, values, batch, population: bool) -> float:
    """sum_c log P(e_c | population) under the model with native numbers ``values`` (by the engine)."""
    network = network_with(model.network, units, values)
    total = float(ExactEngine(network).query_batch(batch)[0].sum())
    phantom = _phantom(network)
    if population and phantom is not None:
        total -= len(batch) * math.log(-math.expm1(expected_statistics(network, phantom).log_likelihood))
    return total


def check_gradient(model, frame, names=None, population=False) -> int:
    """The E-step's counts are the complete-data statistics: for every native number x, the
    likelihood's derivative is (Z - x T) / (x (1 - x)) (Fisher's identity), checked against a central
    difference of the engine's log likelihood."""
    batch = encode_frame(model, frame).batch
    network = model.network
    stats = expected_statistics(network, batch)
    if population:
        unseen = expected_statistics(network, _phantom(network))
        pi = -math.expm1(unseen.log_likelihood)
        stats = stats + unseen.scaled(len(batch) * (1 - pi) / pi)
    units = units_of(model.knowledge, model.locations, network)
    values = np.array([_native(network, u) for u in units])
    checked = 0
    for u, unit in enumerate(units):
        name = model.knowledge.parameters[unit.record].name
        if unit.kind in ("held", "simplex") or (names is not None and name not in names):
            continue
        x = values[u]
        if not 1e-9 < x < 1 - 1e-9:
            continue
        h = 1e-4 * min(x, 1 - x)
        up, down = values.copy(), values.copy()
        up[u], down[u] = x + h, x - h
        slope = (log_likelihood(model, units, up, batch, population)
                 - log_likelihood(model, units, down, batch, population)) / (2 * h)
        z, t = _stats_of(unit, stats)
        expected = z / x - (t - z) / (1 - x) if unit.kind == "context" else (z - x * t) / (x * (1 - x))
        assert slope == pytest.approx(expected, rel=1e-5, abs=1e-6 / x), name
        checked += 1
    return checked


def test_expected_counts_are_the_likelihoods_gradient_on_the_small_network_with_missing_cells(small_model):
    frame = sample_cohort(small_model.network, 80, seed=1)
    frame = hide(frame, [*small_model.findings, *small_model.conditions], 0.4, 2)
    frame = hide(frame, small_model.context, 0.5, 3)           # unknown context: configurations clamped
    assert check_gradient(small_model, frame) >= 15


PRESENTING = ["link:mineral_soft_tissue<-fop", "link:mineral_soft_tissue<-myositis_ossificans_traumatic",
              "link:mineral_lung<-dipo_idiopathic", "leak:mineral_soft_tissue", "leak:mineral_lung"]
SOME = PRESENTING + ["leak:myositis_ossificans_traumatic", "risk:myositis_ossificans_traumatic<-trauma=present",
                     "risk:ho_post_surgical<-surgery=present", "prior:trauma=present", "leak:soft_tissue_mass",
                     "link:soft_tissue_mass<-myositis_ossificans_traumatic", "leak:dipo_idiopathic"]


def test_expected_counts_with_the_population_and_unknown_context_are_the_gradient(model):
    frame = model.sample(30, seed=4, missing=0.3, missing_labels=0.8)
    frame = hide(frame, ["mineral_soft_tissue", "mineral_lung"], 0.5, 5)     # the population latent in some cases
    frame = hide(frame, ["trauma", "surgery", "age_band"], 0.3, 6)
    assert check_gradient(model, frame, SOME) == len(SOME)


def test_the_unseen_patients_make_the_counts_the_gradient_of_the_truncated_likelihood(model):
    """With the unseen patients' counts added (weight N (1 - pi) / pi), the counts are the gradient of
    sum log P(e | population): the truncation is part of the model."""
    frame = model.sample(25, seed=7, missing=0.3)
    assert check_gradient(model, frame, PRESENTING + ["leak:myositis_ossificans_traumatic", "prior:trauma=present"],
                          population=True) == len(PRESENTING) + 2


@pytest.mark.parametrize("accelerate", [False, True])
def test_the_log_posterior_never_decreases_on_the_small_network(small_model, accelerate):
    frame = hide(sample_cohort(small_model.network, 300, seed=2), small_model.findings, 0.3, 1)
    frame = hide(frame, small_model.conditions, 1.0, 2)
    result = small_model.fit(frame, max_iterations=12, tolerance=0.0, accelerate=accelerate)
    steps = np.diff(result.log_posterior)
    assert result.iterations == 12
    # one point per E-step, less one per extrapolated point the safeguard refused
    assert len(steps) == 12 if not accelerate else 8 <= len(steps) <= 12
    assert np.all(steps >= -1e-9 * abs(result.log_posterior[-1])), steps
    assert result.log_posterior[-1] > result.log_posterior[0]


@pytest.fixture(scope="module")
def shipped_fit(model):
    frame = model.sample(60, seed=3, missing=0.3, missing_labels=0.7)
    frame = hide(frame, ["trauma"], 0.3, 4)
    frame["fluid_fluid_levels"] = np.nan                      # never observed: its numbers stay
    return model.fit(frame, max_iterations=3, tolerance=0.0, intervals="complete")


def test_the_log_posterior_never_decreases_with_the_population(shipped_fit):
    steps = np.diff(shipped_fit.log_posterior)
    assert shipped_fit.iterations == 3 and len(steps) in (2, 3)
    assert np.all(steps >= -1e-9 * abs(shipped_fit.log_posterior[-1])), steps


def test_squarem_reaches_the_plain_em_optimum_in_fewer_iterations(small_model):
    """Both runs stop when a step (a cycle) gains less than 1e-9 nats per case. Where they stop, the
    log posteriors agree within 1e-5 nats in all (600 cases) and every fitted number within 5% of the
    width of its 95% interval: plain EM stops short of the mode along its slow directions by a few
    of its last steps, and a difference well inside the interval is not one the data can tell apart.
    The accelerated run must not end lower (beyond that tolerance) and must take fewer E-steps."""
    truth = perturbed(small_model, 5)
    cohort = hide(hide(sample_cohort(truth, 600, seed=6), small_model.findings, 0.3, 7), small_model.conditions, 1.0, 8)
    plain = small_model.fit(cohort, max_iterations=500, tolerance=1e-9, accelerate=False)
    fast = small_model.fit(cohort, max_iterations=500, tolerance=1e-9)
    assert plain.converged and fast.converged
    assert fast.iterations < 0.85 * plain.iterations, (fast.iterations, plain.iterations)
    assert abs(fast.log_posterior[-1] - plain.log_posterior[-1]) < 1e-5
    assert np.all(np.diff(fast.log_posterior) >= -1e-9 * abs(fast.log_posterior[-1]))
    fitted = plain.table["fitted"].to_numpy()
    assert fitted.sum() >= 15 and (fast.table["fitted"].to_numpy() == fitted).all()
    width = (plain.table["high"] - plain.table["low"]).to_numpy()[fitted]
    moved = np.abs(fast.table["value"] - plain.table["value"]).to_numpy()[fitted]
    assert np.all(moved <= 0.05 * width), moved / width


def test_a_small_cohort_moves_nothing_beyond_its_range_and_nothing_it_does_not_inform(model, shipped_fit):
    table = shipped_fit.table
    assert ((table["value"] >= table["prior_low"] - 1e-12) & (table["value"] <= table["prior_high"] + 1e-12)).all()
    assert ((table["low"] <= table["value"]) & (table["value"] <= table["high"])).all()
    untouched = table.loc[[n for n in table.index if n.startswith(("link:fluid_fluid_levels", "leak:fluid_fluid_levels"))]]
    assert len(untouched) >= 3 and not untouched["fitted"].any()
    assert (untouched["value"] == untouched["prior_value"]).all()
    # the ordered findings' numbers are fitted too, on their own scale and within their ranges
    ordered = table[table.index.str.contains("extent")]
    assert ordered["fitted"].sum() >= 5


def test_the_fitted_folder_loads_equals_the_fitted_network_and_shows_before_and_after(model, shipped_fit, tmp_path):
    folder = shipped_fit.write(tmp_path / "fitted")
    fitted = bayesnet.load(folder)
    case = {"mineral_soft_tissue": "present", "trauma": "present", "soft_tissue_mass": "present", "extent": "multifocal"}
    expected = ExactEngine(shipped_fit.network).query(fitted.encode(case)).posterior
    assert np.max(np.abs(fitted.answer(case).posterior - expected)) < 1e-9
    prov = fitted.provenance().set_index("parameter")
    rows = prov[prov["kind"] == "fitted"]
    assert len(rows) == int(shipped_fit.table["fitted"].sum())
    before = model.provenance().set_index("parameter")
    for name in rows.index[:50]:
        assert rows.loc[name, "prior_kind"] == before.loc[name, "kind"]
        assert rows.loc[name, "prior_value"] == before.loc[name, "value"]
        assert rows.loc[name, "prior_quote"] == before.loc[name, "quote"]
        assert rows.loc[name, "source"] == "cohort" and "60 cases" in rows.loc[name, "note"]
    assert prov.loc[prov["kind"] != "fitted", "prior_kind"].isna().all()
    with pytest.raises(BayesnetError, match="new or empty"):
        shipped_fit.write(folder)


def test_a_fitted_row_without_its_prior_row_or_cohort_is_refused(small_copy):
    links = small_copy / "links.csv"
    lines = links.read_text().splitlines()
    prior = lines[1].split(",")
    fitted = prior[:3] + ["0.72", "0.6", "0.8", "fitted", "cases.csv", "", "", "", "30", "41", "fitted"]
    orphan = ["trabeculated_bone", "", "calcinosis", "0.3", "0.1", "0.5", "fitted", "", "", "", "", "", "", "x"]
    links.write_text("\n".join(lines + [",".join(fitted), ",".join(orphan)]) + "\n")
    (small_copy / "cells.csv").write_text((small_copy / "cells.csv").read_text())
    with pytest.raises(KnowledgeBaseError) as error:
        bayesnet.load(small_copy)
    text = str(error.value)
    assert "must stand beside the row it was fitted from" in text
    assert "names its cohort" in text and "effective counts" in text
    # the well-formed fitted row alone loads, replaces its prior row and shows it
    links.write_text("\n".join(lines + [",".join(fitted)]) + "\n")
    loaded = bayesnet.load(small_copy)
    row = loaded.provenance().set_index("parameter").loc["link:trabeculated_bone<-myositis_ossificans"]
    assert row["kind"] == "fitted" and row["value"] == 0.72 and row["prior_value"] == 0.7


def perturbed(model, seed: int) -> NoisyOrNetwork:
    """The model's network with every number drawn from its uncertainty (within its range)."""
    values = draw_records(uncertainty(model), 1, seed)
    return batch_from_records(model.network, model.knowledge.parameters, model.locations, values).network(model.network, 0)


def held_out_gain(model, truth, result, seed: int) -> float:
    """Mean log P(case) of held-out cases (labels hidden) under the fitted model minus the unfitted."""
    held_out = hide(sample_cohort(truth, 3000, seed=seed), model.conditions, 1.0, seed + 1)
    batch = encode_frame(model, held_out).batch
    return float(ExactEngine(result.network).query_batch(batch)[0].mean()
                 - ExactEngine(model.network).query_batch(batch)[0].mean())


def test_recovery_from_complete_cases_puts_the_truth_within_nine_in_ten_intervals(small_model):
    truth = perturbed(small_model, 5)
    result = small_model.fit(sample_cohort(truth, 6000, seed=6), max_iterations=100)
    table = result.table
    true = record_readings(small_model.knowledge, small_model.locations, truth)
    informed = table["informed"].to_numpy()
    covered = (table["low"].to_numpy() <= true + 1e-12) & (true <= table["high"].to_numpy() + 1e-12)
    assert informed.sum() >= 18
    assert covered[informed].mean() >= 0.9, table.assign(truth=true)[informed & ~covered]
    assert held_out_gain(small_model, truth, result, 9) > 0


def test_recovery_with_hidden_labels_and_findings_beats_the_unfitted_model_on_held_out_cases(small_model):
    truth = perturbed(small_model, 5)
    cohort = hide(hide(sample_cohort(truth, 2000, seed=6), small_model.findings, 0.3, 7), small_model.conditions, 1.0, 8)
    result = small_model.fit(cohort, max_iterations=20)
    assert held_out_gain(small_model, truth, result, 11) > 0


def test_fit_refuses_bad_options_and_bad_cells(small_model):
    frame = sample_cohort(small_model.network, 20, seed=1)
    with pytest.raises(BayesnetError, match="max_iterations"):
        small_model.fit(frame, max_iterations=0)
    bad = frame.astype(object)
    bad.iloc[3, 4] = "maybe"
    with pytest.raises(BayesnetError, match="maybe"):
        small_model.fit(bad)


def test_the_command_line_fits_a_cohort_file_into_a_folder(tmp_path, capsys):
    cohort = tmp_path / "cases.parquet"
    assert main(["--priors", str(SMALL), "sample", "-n", "500", "-o", str(cohort), "--missing", "0.2",
                 "--no-progress"]) == 0
    folder = tmp_path / "fitted"
    assert main(["--priors", str(SMALL), "fit", str(cohort), "--id", "case_id", "-o", str(folder),
                 "--report", str(tmp_path / "report.csv"), "--no-progress"]) == 0
    assert "fitted" in capsys.readouterr().err
    assert (bayesnet.load(folder).provenance()["kind"] == "fitted").any()
    assert len(pd.read_csv(tmp_path / "report.csv")) == len(bayesnet.load(SMALL).knowledge.parameters)
    assert main(["--priors", str(SMALL), "fit", str(cohort), "-o", str(folder)]) == 2
    assert "new or empty" in capsys.readouterr().err


def test_labelled_cases_are_counted_in_closed_form_as_the_engine_would(model):
    """Cases with every condition and context node observed skip the engine: the same gradient identity
    holds, and their log likelihood is the engine's."""
    frame = model.sample(40, seed=12, missing=0.3)
    frame = hide(frame, ["mineral_soft_tissue", "mineral_lung"], 0.5, 13)
    batch = encode_frame(model, frame).batch
    assert expected_statistics(model.network, batch).log_likelihood == pytest.approx(
        float(model.engine.query_batch(batch)[0].sum()), rel=1e-12)
    assert check_gradient(model, frame, SOME) == len(SOME)


def test_diff_ranks_what_moved_and_names_the_scenarios_whose_top_changes(small_model, tmp_path, capsys):
    from bayesnet.learning.comparison import compare_parameters, compare_scenarios
    from bayesnet.analysis.scenarios import read_scenarios

    truth = perturbed(small_model, 5)
    result = small_model.fit(sample_cohort(truth, 3000, seed=6), max_iterations=30)
    folder = result.write(tmp_path / "fitted")
    fitted = bayesnet.load(folder)
    numbers = compare_parameters(small_model, fitted)
    table = result.table
    assert np.allclose(numbers.loc[table.index, "change"], table["value"] - table["prior_value"], atol=1e-10)
    moved = numbers["moved"].to_numpy()
    assert np.all(np.diff(moved) <= 1e-15)                                   # ranked
    scenarios = tmp_path / "scenarios.csv"
    pd.DataFrame({"case": ["toe", "rim", "none"],
                  "evidence": ["malformed_great_toe=present", "peripheral_rim=present trauma=present", ""]}
                 ).to_csv(scenarios, index=False)
    compared = compare_scenarios(small_model, fitted, read_scenarios(scenarios))
    for case, row in compared.iterrows():
        evidence = read_scenarios(scenarios)[["toe", "rim", "none"].index(case)].evidence
        assert row["top_a"] == small_model.posteriors(evidence).index[0]
        assert row["top_b"] == fitted.posteriors(evidence).index[0]
        assert row["changed"] == (row["top_a"] != row["top_b"])
    png = tmp_path / "diff.png"
    assert main(["diff", str(SMALL), str(folder), "--scenarios", str(scenarios), "--png", str(png), "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert numbers.index[0] in out and "scenarios change their top condition" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def brute_information(model, units, values, free, batch, population: bool) -> np.ndarray:
    """The negative Hessian of the log likelihood over the units ``free``: central second
    differences of the engine's log likelihood (no E-step counts involved)."""
    index = np.flatnonzero(free)
    # a step of 1% of the distance to the nearer bound: truncation error about 1e-5 of the curvature;
    # a smaller step loses digits to rounding on numbers near 0 or 1 whose curvature is small (FOP's
    # presenting link near 0.99: 2.14 at 0.1%, 2.0249 at 1%, 2.0242 at 3% and 10%)
    h = 1e-2 * np.minimum(values[index], 1 - values[index])
    out = np.zeros((len(index), len(index)))

    def f(shift: dict) -> float:
        v = values.copy()
        for i, d in shift.items():
            v[index[i]] += d
        return log_likelihood(model, units, v, batch, population)

    centre = f({})
    for i in range(len(index)):
        out[i, i] = -(f({i: h[i]}) - 2 * centre + f({i: -h[i]})) / h[i] ** 2
        for j in range(i):
            value = -(f({i: h[i], j: h[j]}) - f({i: h[i], j: -h[j]}) - f({i: -h[i], j: h[j]})
                      + f({i: -h[i], j: -h[j]})) / (4 * h[i] * h[j])
            out[i, j] = out[j, i] = value
    return out


def information_of(model, frame, subset=None, iterations=30):
    """(the fitting code's information, the brute-force one, the prior's curvature) at the numbers
    fitted in ``iterations`` EM iterations."""
    from bayesnet.learning.cohort_fit import encode_cohort
    from bayesnet.learning.fitting import EStep, _prior_curvature, score_function
    from bayesnet.learning.information import observed_information

    result = model.fit(frame, max_iterations=iterations, intervals="complete")
    units = units_of(model.knowledge, model.locations, model.network)
    values = result.values
    batches, labels = encode_cohort(model, frame)
    estep = EStep(batches, labels)
    informed = result.table["informed"].to_numpy()
    kinds = np.array([u.kind for u in units])
    free = informed & np.isin(kinds, ["context", "condition_leak", "finding_leak", "risk", "link", "ordered_leak",
                                      "ordered_link"]) & (values > 1e-6) & (values < 1 - 1e-6)
    if subset is not None:
        names = [model.knowledge.parameters[u.record].name for u in units]
        free &= np.isin(names, subset)
    curvature = np.array([_prior_curvature(u, float(x)) for u, x in zip(units, values)])
    phantom = _phantom(model.network)
    fast = observed_information(units, values, free, lambda v: network_with(model.network, units, v), estep, phantom,
                                len(frame), estep.complete, score_function(model.network, units, free), curvature,
                                tuple(model.network.presenting))
    batch = encode_frame(model, frame).batch
    brute = brute_information(model, units, values, free, batch, phantom is not None)
    return fast, brute + np.diag(curvature[free]), estep.complete


@pytest.mark.parametrize("hidden", [False, True])
def test_the_observed_information_is_the_log_posteriors_curvature_on_the_small_network(small_model, hidden):
    """The information the intervals use (differences of the E-step's exact score; with complete
    cases only within each table) equals the second differences of the engine's log likelihood plus
    the prior's curvature, entry by entry: off the tables' blocks too, so the blocks are right."""
    truth = perturbed(small_model, 5)
    frame = sample_cohort(truth, 400, seed=6)
    if hidden:
        frame = hide(hide(frame, small_model.findings, 0.3, 7), small_model.conditions, 1.0, 8)
    fast, brute, complete = information_of(small_model, frame)
    assert complete is not hidden and fast.shape[0] >= 12
    scale = np.sqrt(np.outer(np.diag(brute), np.diag(brute)))
    assert np.max(np.abs(fast - brute) / scale) < 2e-3
    off_block = np.abs(brute) / scale > 1e-2
    assert off_block.sum() > fast.shape[0]                    # the numbers do interact: a diagonal would fail


def test_the_observed_information_with_the_truncation_is_the_log_posteriors_curvature(model):
    """With the population's truncation the presenting findings' numbers, the base rates and the
    context priors interact across tables; the fitting code's information still equals the
    engine's second differences."""
    frame = model.sample(200, seed=12)
    # 8 EM iterations: the identity holds at any numbers, not only at the optimum (at 30 it agrees as
    # well and takes 47 s instead of 20 s)
    fast, brute, complete = information_of(model, frame, PRESENTING + [
        "leak:myositis_ossificans_traumatic", "prior:trauma=present", "risk:myositis_ossificans_traumatic<-trauma=present",
        "link:soft_tissue_mass<-myositis_ossificans_traumatic", "leak:soft_tissue_mass"], iterations=8)
    assert complete and fast.shape[0] >= 7
    scale = np.sqrt(np.outer(np.diag(brute), np.diag(brute)))
    assert np.max(np.abs(fast - brute) / scale) < 1e-3
    assert np.abs(brute[0, 2:5] / scale[0, 2:5]).max() > 1e-3      # a presenting link meets other tables' numbers


def test_a_leak_rises_past_a_link_no_case_informs_and_that_link_moves_with_it(small_copy, tmp_path):
    """neck_involved: leak 0.05 [0.01, 0.1], calcinosis's link 0.06 [0.05, 0.2]. The cohort comes from a
    network whose leak is 0.09 and has no calcinosis case, so nothing informs that link. The leak must
    reach about 0.09 (it used to stop at the link's value, 0.06), and the link's reading follow it."""
    import shutil

    def edit(folder, leak: str, link: str):
        leaks = folder / "finding_leaks.csv"
        leaks.write_text(leaks.read_text().replace("neck_involved,,0.05,0.01,0.1,", f"neck_involved,,{leak},0.01,0.1,"))
        links = folder / "links.csv"
        links.write_text(links.read_text().replace("neck_involved,,calcinosis,0.1,0.05,0.2,",
                                                   f"neck_involved,,calcinosis,{link},0.05,0.2,"))
    truth_folder = tmp_path / "truth"
    shutil.copytree(small_copy, truth_folder)
    edit(truth_folder, "0.09", "0.15")
    edit(small_copy, "0.05", "0.06")
    truth, model = bayesnet.load(truth_folder), bayesnet.load(small_copy)
    cohort = sample_cohort(truth.network, 6000, seed=3)
    cohort = cohort[cohort["calcinosis"] == "absent"]
    fop = (cohort["fop"] == "present").to_numpy()
    rate = float((cohort.loc[~fop, "neck_involved"] == "present").mean())      # the leak's own estimate
    assert 0.075 < rate < 0.105 and len(cohort) > 4000
    result = model.fit(cohort, max_iterations=50)
    table = result.table
    leak, link = table.loc["leak:neck_involved"], table.loc["link:neck_involved<-calcinosis"]
    assert leak["informed"] and leak["value"] == pytest.approx(rate, abs=0.01)
    assert leak["value"] > 0.08 and leak["low"] > 0.06                         # past the link's value
    assert not link["informed"] and link["fitted"] and link["value"] == pytest.approx(leak["value"], abs=1e-9)
    assert link["N"] == 0 and link["high"] == 0.2
    loaded = bayesnet.load(result.write(tmp_path / "fitted"))                  # a valid knowledge base
    row = loaded.provenance().set_index("parameter").loc["link:neck_involved<-calcinosis"]
    assert row["kind"] == "fitted" and "moved with the leak" in row["note"]


ORDERED_ROWS = {
    "nodes.csv": ["extent,finding,single_site|multifocal|widespread,imaging,How far the mineral extends"],
    "finding_leaks.csv": ["extent,multifocal,0.1,0.05,0.2,assumed,,,,,,,test value",
                          "extent,widespread,0.03,0.01,0.06,assumed,,,,,,,test value"],
    "links.csv": ["extent,multifocal,fop,0.3,0.1,0.45,assumed,,,,,,,test value",
                  "extent,widespread,fop,0.5,0.3,0.7,assumed,,,,,,,test value",
                  "extent,multifocal,myositis_ossificans,0.15,0.1,0.3,assumed,,,,,,,test value",
                  "extent,multifocal,calcinosis,0.4,0.2,0.6,assumed,,,,,,,test value",
                  "extent,widespread,calcinosis,0.2,0.1,0.35,assumed,,,,,,,test value"],
    "cells.csv": ["extent,link,link,link"],
}


@pytest.fixture()
def ordered_model(small_copy):
    """The small model with an ordered finding (three states, three causes)."""
    for file, rows in ORDERED_ROWS.items():
        path = small_copy / file
        path.write_text(path.read_text().rstrip("\n") + "\n" + "\n".join(rows) + "\n")
    return bayesnet.load(small_copy)


@pytest.mark.parametrize("hidden", [False, True])
def test_the_ordered_findings_counts_are_the_likelihoods_gradient(ordered_model, hidden):
    """For an ordered finding's records, the table's gradient from the E-step's counts of the leak's
    and each cause's draws is the derivative of the engine's log likelihood (Fisher's identity), in
    closed form (labels known) and through the engine (labels and findings hidden)."""
    from bayesnet.learning.fitting import score_function

    model = ordered_model
    frame = sample_cohort(perturbed(model, 3), 200, seed=4)
    if hidden:
        frame = hide(hide(frame, [*model.findings, *model.conditions], 0.4, 5), model.context, 0.3, 6)
    assert frame["extent"].nunique() == 3
    batch = encode_frame(model, frame).batch
    stats = expected_statistics(model.network, batch)
    units = units_of(model.knowledge, model.locations, model.network)
    values = np.array([_native(model.network, u) for u in units])
    free = np.array([u.kind in ("ordered_leak", "ordered_link") for u in units])
    assert free.sum() == 7
    score = score_function(model.network, units, free)(stats, values)
    for i, u in enumerate(np.flatnonzero(free)):
        h = 1e-5 * min(values[u], 1 - values[u])
        up, down = values.copy(), values.copy()
        up[u], down[u] = values[u] + h, values[u] - h
        slope = (log_likelihood(model, units, up, batch, False) - log_likelihood(model, units, down, batch, False)) / (2 * h)
        assert score[i] == pytest.approx(slope, rel=1e-5, abs=1e-4), model.knowledge.parameters[units[u].record].name
    # each source's draws add up to its trials: the leak's to the cases observing the finding
    assert stats.ordered_leak[0].sum() == pytest.approx(frame["extent"].notna().sum())


def test_ordered_counts_in_closed_form_equal_the_engines(ordered_model):
    """With labels known the draws are counted in closed form; through the engine (the same cases
    with a context cell hidden and then clamped back by the configuration sum) they agree."""
    from bayesnet.learning.statistics import Statistics, _ordered_statistics

    model = ordered_model
    frame = sample_cohort(model.network, 150, seed=8)
    batch = encode_frame(model, frame).batch
    closed = expected_statistics(model.network, batch)
    engine = ExactEngine(model.network)
    log_ev, post = engine.query_batch(batch)
    general = Statistics.zeros(model.network)
    _ordered_statistics(model.network, engine, batch, np.ones(len(frame)), log_ev, post, general)
    for o in range(len(model.network.ordered)):
        assert np.max(np.abs(closed.ordered_leak[o] - general.ordered_leak[o])) < 1e-9
        assert np.max(np.abs(closed.ordered_cause[o] - general.ordered_cause[o])) < 1e-9
    assert closed.ordered_cause[0].sum() > 0


def test_ordered_records_are_recovered_and_stay_valid_tables(ordered_model, tmp_path):
    """From complete cases of a perturbed network the fitted ordered records hold the truth within
    their intervals (9 in 10 or better over the seven), EM stays monotone, every fitted table keeps
    the knowledge base's constraint (the fitted folder loads) and answers as the fitted network."""
    model = ordered_model
    truth = perturbed(model, 11)
    result = model.fit(sample_cohort(truth, 6000, seed=12), max_iterations=60)
    assert np.all(np.diff(result.log_posterior) >= -1e-9 * abs(result.log_posterior[-1]))
    table = result.table
    true = record_readings(model.knowledge, model.locations, truth)
    ordered = np.asarray(table.index.str.startswith(("leak:extent", "link:extent")))
    assert ordered.sum() == 7 and table.loc[ordered, "fitted"].all()
    covered = (table["low"].to_numpy() <= true + 1e-12) & (true <= table["high"].to_numpy() + 1e-12)
    assert covered[ordered].mean() >= 6 / 7, table.assign(truth=true)[ordered]
    start = record_readings(model.knowledge, model.locations, model.network)
    closer = np.abs(table["value"].to_numpy() - true) < np.abs(start - true)
    assert closer[ordered].mean() >= 5 / 7
    fitted = bayesnet.load(result.write(tmp_path / "fitted"))
    case = {"extent": "widespread", "trabeculated_bone": "present"}
    assert np.max(np.abs(fitted.answer(case).posterior
                         - ExactEngine(result.network).query(fitted.encode(case)).posterior)) < 1e-9


@pytest.mark.parametrize("hidden", [False, True])
def test_the_observed_information_of_ordered_records_is_the_log_posteriors_curvature(ordered_model, hidden):
    """The same with an ordered finding: its records' rows and columns of the information (from the
    table's gradient) equal the engine's second differences, their ties to the other numbers included.
    (The second differences step 1e-3 of each record: a fit whose tables lie that close to their
    constraint, a lowest state near 0, would step out of the feasible set; this one does not.)"""
    model = ordered_model
    frame = sample_cohort(perturbed(model, 9), 400, seed=6)
    if hidden:
        frame = hide(hide(frame, model.findings, 0.3, 7), model.conditions, 1.0, 8)
    fast, brute, complete = information_of(model, frame)
    fitted = model.fit(frame, max_iterations=30, intervals="complete").network.ordered[0]
    alone = alone_from_cause(fitted.cause, fitted.leak)[list(fitted.parents)]
    assert alone[:, 0].min() > 0.02 and fitted.leak[0] > 0.02
    assert complete is not hidden and fast.shape[0] >= 19
    scale = np.sqrt(np.outer(np.diag(brute), np.diag(brute)))
    assert np.max(np.abs(fast - brute) / scale) < 2e-3
