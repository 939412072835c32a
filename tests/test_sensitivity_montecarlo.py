"""Second-order Monte Carlo: distributions from provenance, reproducibility, and the point values."""
from __future__ import annotations

import numpy as np
import pytest

import bayesnet
from bayesnet.inference.engine import ParameterBatch, query_parameter_batch
from bayesnet.analysis.montecarlo import monte_carlo, sample, uncertainty
from bayesnet.analysis.parameters import batch_from_records

EVIDENCE = {"age_band": "child", "trabeculated_bone": "present", "neck_involved": "present"}


def fixed(model):
    problem = uncertainty(model)
    problem["distribution"] = "fixed"
    return problem


def test_zero_width_ranges_reproduce_the_point_posteriors_exactly(small_model):
    result = monte_carlo(small_model, EVIDENCE, draws=7, seed=0, problem=fixed(small_model))
    # bit for bit what the batch engine gives for the network's own parameters ...
    own = ParameterBatch.repeat(small_model.network, 7)
    _, expected = query_parameter_batch(small_model.network, own, small_model.encode(EVIDENCE))
    assert np.array_equal(result.posteriors.to_numpy(), expected)
    # ... which is the single-query answer to rounding
    point = small_model.answer(EVIDENCE).posterior
    np.testing.assert_allclose(result.posteriors.to_numpy(), np.tile(point, (7, 1)), rtol=0, atol=1e-14)
    assert result.top_changed == 0.0
    assert (result.summary["q05"] == result.summary["q95"]).all()


def test_a_knowledge_base_with_zero_width_ranges_reproduces_the_point_posteriors(small_copy):
    for path in small_copy.glob("*.csv"):
        lines = path.read_text().splitlines()
        if "low" not in lines[0].split(","):
            continue
        header = lines[0].split(",")
        v, lo, hi = header.index("value"), header.index("low"), header.index("high")
        rows = [line.split(",") for line in lines[1:]]
        for row in rows:
            if row[v]:
                row[lo] = row[hi] = row[v]
            else:                      # a verbal value: its range comes from the scale
                pass
        path.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    scale = small_copy / "verbal_scale.csv"
    lines = scale.read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    for row in rows:
        row[2] = row[3] = row[1]
    scale.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    model = bayesnet.load(small_copy)
    assert set(uncertainty(model)["distribution"]) == {"fixed"}
    result = monte_carlo(model, EVIDENCE, draws=3, seed=5)
    _, expected = query_parameter_batch(model.network, ParameterBatch.repeat(model.network, 3), model.encode(EVIDENCE))
    assert np.array_equal(result.posteriors.to_numpy(), expected)


def test_point_records_compile_to_the_networks_own_arrays(small_model):
    values = np.array([[p.value for p in small_model.knowledge.parameters]])
    batch = batch_from_records(small_model.network, small_model.knowledge.parameters, small_model.locations, values)
    net = small_model.network
    assert np.array_equal(batch.link[0], net.link)
    assert np.array_equal(batch.finding_leak[0], net.finding_leak)
    assert np.array_equal(batch.condition_leak[0], net.condition_leak)
    for k in range(len(net.context)):
        assert np.array_equal(batch.context_prior[k][0], net.context_prior[k])
        assert np.array_equal(batch.risk[k][0], net.risk[k])


def test_same_seed_same_numbers_different_seed_different_numbers(small_model):
    a = monte_carlo(small_model, EVIDENCE, draws=300, seed=0)
    b = monte_carlo(small_model, EVIDENCE, draws=300, seed=0)
    c = monte_carlo(small_model, EVIDENCE, draws=300, seed=1)
    assert np.array_equal(a.posteriors.to_numpy(), b.posteriors.to_numpy())
    assert a.summary.equals(b.summary)
    assert not np.allclose(a.posteriors.to_numpy(), c.posteriors.to_numpy())
    generator = monte_carlo(small_model, EVIDENCE, draws=300, seed=np.random.default_rng(0))
    assert np.array_equal(a.posteriors.to_numpy(), generator.posteriors.to_numpy())


def test_summary_is_consistent_with_the_draws(small_model):
    result = monte_carlo(small_model, EVIDENCE, draws=500, seed=3)
    draws = result.posteriors
    summary = result.summary
    assert summary.index[0] == result.top == "fop"
    assert summary.loc["fop", "median"] == pytest.approx(np.median(draws["fop"]), abs=0)
    assert summary.loc["fop", "q05"] == pytest.approx(np.quantile(draws["fop"], 0.05), abs=0)
    assert (summary["q05"] <= summary["median"]).all() and (summary["median"] <= summary["q95"]).all()
    assert summary["top_share"].sum() == pytest.approx(1.0)
    winners = draws.idxmax(axis=1)
    assert result.top_changed == pytest.approx(float((winners != "fop").mean()), abs=0)
    assert 0 < result.top_changed < 0.5   # the fop_neck case moves with the child risk factor
    np.testing.assert_allclose(summary["point"], small_model.posteriors(EVIDENCE)["posterior"], atol=1e-15)


def test_each_draw_equals_inference_with_that_draws_parameters(small_model):
    problem = uncertainty(small_model)
    values = sample(problem, 4, seed=11)
    result = monte_carlo(small_model, EVIDENCE, draws=4, seed=11)
    for b in range(4):
        records = [p.value for p in small_model.knowledge.parameters]
        assert not np.array_equal(values[b], records)
        one = batch_from_records(small_model.network, small_model.knowledge.parameters, small_model.locations,
                                 values[b:b + 1])
        _, posterior = query_parameter_batch(small_model.network, one, small_model.encode(EVIDENCE))
        np.testing.assert_allclose(result.posteriors.iloc[b], posterior[0], atol=1e-15)


def test_distributions_follow_the_provenance(small_copy):
    # give one link counts, as a reported value: 7 of 10
    links = small_copy / "links.csv"
    links.write_text(links.read_text().replace(
        "amorphous_mineral,,calcinosis,0.7,0.5,0.9,assumed,,,,,,,test value",
        "amorphous_mineral,,calcinosis,0.7,0.5,0.9,reported,001_f79af83885ca3da5.txt,seven of ten,,,7,10,test"))
    model = bayesnet.load(small_copy)
    problem = uncertainty(model)
    counted = problem.loc["link:amorphous_mineral<-calcinosis"]
    assert (counted["distribution"], counted["alpha"], counted["beta"]) == ("beta", 8.0, 4.0)
    verbal = problem.loc["link:trabeculated_bone<-fop"]          # "usually": 0.8 in [0.65, 0.9]
    assert verbal["distribution"] == "pert"
    assert (verbal["low"], verbal["value"], verbal["high"]) == (0.65, 0.8, 0.9)
    assert verbal["alpha"] == pytest.approx(1 + 4 * 0.15 / 0.25) and verbal["beta"] == pytest.approx(1 + 4 * 0.1 / 0.25)
    assert problem.loc["leak:fop", "distribution"] == "uniform"

    draws = sample(problem, 40_000, seed=0)
    column = {name: r for r, name in enumerate(problem.index)}
    beta = draws[:, column["link:amorphous_mineral<-calcinosis"]]
    assert beta.mean() == pytest.approx(8 / 12, abs=0.005)
    pert = draws[:, column["link:trabeculated_bone<-fop"]]
    assert pert.min() >= 0.65 and pert.max() <= 0.9
    assert pert.mean() == pytest.approx((0.65 + 4 * 0.8 + 0.9) / 6, abs=0.002)
    uniform = draws[:, column["leak:fop"]]                         # assumed: uniform on [0.001, 0.01]
    assert uniform.min() >= 0.001 and uniform.max() <= 0.01
    assert uniform.mean() == pytest.approx(0.0055, abs=0.0001)
    child = draws[:, column["prior:age_band=child"]]
    assert child.min() >= 0.1 and child.max() <= 0.3


def test_multi_state_priors_are_rescaled_to_sum_to_one(small_model):
    problem = uncertainty(small_model)
    values = sample(problem, 50, seed=2)
    batch = batch_from_records(small_model.network, small_model.knowledge.parameters, small_model.locations, values)
    np.testing.assert_allclose(batch.context_prior[0].sum(axis=1), 1.0, atol=1e-15)
    np.testing.assert_allclose(batch.context_prior[1].sum(axis=1), 1.0, atol=1e-15)
    assert np.all(batch.link >= 0) and np.all(batch.link <= 1)


def test_bad_sample_requests_say_what_was_expected(small_model):
    problem = uncertainty(small_model)
    with pytest.raises(ValueError, match="size must be a positive whole number of draws, got 0"):
        sample(problem, 0)
    problem.loc[problem.index[0], "distribution"] = "normal"
    with pytest.raises(ValueError, match="distribution must be one of beta, pert, uniform, fixed, got 'normal'"):
        sample(problem, 5)
    with pytest.raises(ValueError, match="one row per parameter"):
        monte_carlo(small_model, EVIDENCE, draws=5, problem=problem.iloc[1:])
