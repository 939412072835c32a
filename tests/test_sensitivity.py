"""One-way sensitivity functions and admissible deviation, against re-running inference."""
from __future__ import annotations

import numpy as np
import pytest

from bayesnet.knowledge.network import derive_rows
from bayesnet.inference.engine import ExactEngine
from bayesnet.errors import UnknownNameError
from bayesnet.analysis.sensitivity import admissible_deviation, one_way, parameter_importance, sensitivity_functions

SCENARIOS = {
    "fop_neck": {"age_band": "child", "trabeculated_bone": "present", "neck_involved": "present"},
    "trauma_rim": {"trauma": "present", "peripheral_rim": "present", "amorphous_mineral": "absent"},
    "soft": {"neck_involved": [0.3, 0.9], "age_band": [0.5, 1.0], "malformed_great_toe": "absent"},
    "none": {},
    # P(adult) = 0.8 is varied down to 0 for the second propagation: the evidence is impossible there
    "adult": {"age_band": "adult", "neck_involved": "present", "trabeculated_bone": "absent"},
}


def rerun(model, location, x, evidence):
    """Posteriors with the parameter at ``location`` set to native ``x``, siblings co-varied by hand."""
    net = model.network
    idx = location.index
    if location.array == "context_prior":
        k, s = idx
        prior = net.context_prior[k].copy()
        others = [t for t in range(len(prior)) if t != s]
        prior[others] = prior[others] / prior[others].sum() * (1.0 - x)
        prior[s] = x
        priors = list(net.context_prior)
        priors[k] = prior
        changed = net.with_parameters(context_prior=tuple(priors))
    elif location.array == "risk":
        risk = [r.copy() for r in net.risk]
        risk[idx[0]][idx[1:]] = x
        changed = net.with_parameters(risk=tuple(risk))
    elif location.array in ("ordered_leak", "ordered_link"):
        natives = [(o.leak.copy(), o.cause.copy()) for o in net.ordered]
        leak, cause = natives[idx[0]]
        target = leak if location.array == "ordered_leak" else cause[idx[1]]
        s = idx[-1]
        others = [t for t in range(len(target)) if t != s]
        rest = target[others].sum()
        target[others] = target[others] / rest * (1.0 - x) if rest > 0 else (1.0 - x) / len(others)
        target[s] = x
        changed = net.with_ordered(natives)
    else:
        array = getattr(net, location.array).copy()
        array[idx] = x
        link, leak = (array, net.finding_leak.copy()) if location.array == "link" else (net.link.copy(), array)
        if location.array in ("link", "finding_leak"):
            derive_rows(net, link, leak)       # the population rows follow a presenting finding's numbers
            changed = net.with_parameters(link=link, finding_leak=leak)
        else:
            changed = net.with_parameters(**{location.array: array})
    return ExactEngine(changed).query(model.encode(evidence)).posterior


@pytest.mark.parametrize("name", SCENARIOS)
def test_sensitivity_function_equals_rerunning_inference(small_model, name):
    evidence = SCENARIOS[name]
    functions = sensitivity_functions(small_model, evidence)
    table = functions.parameters
    checked = undefined = 0
    for r, location in enumerate(small_model.locations):
        row = table.iloc[r]
        for x in (0.0, 0.13, row["x_low"], row["x_high"], 0.5, 0.87, 0.99):
            expected = rerun(small_model, location, x, evidence)
            if np.isnan(expected).all():   # P(evidence | x) = 0: the posterior is undefined
                assert abs(functions.C[r] * x + functions.D[r]) < 1e-12
                undefined += 1
                continue
            predicted = (functions.A[r] * x + functions.B[r]) / (functions.C[r] * x + functions.D[r])
            np.testing.assert_allclose(predicted, expected, rtol=0, atol=1e-9, err_msg=f"{table.index[r]} at x={x}")
            checked += 1
    assert checked + undefined == 7 * len(small_model.knowledge.parameters) and undefined <= 2


@pytest.mark.parametrize("name", ["fop_neck", "soft"])
def test_derivative_equals_a_finite_difference(small_model, name):
    evidence = SCENARIOS[name]
    functions = sensitivity_functions(small_model, evidence)
    derivative = functions.derivative("x0")
    h = 1e-6
    for r, location in enumerate(small_model.locations):
        x0 = functions.parameters["x0"].iloc[r]
        difference = (rerun(small_model, location, x0 + h, evidence) - rerun(small_model, location, x0 - h, evidence)) / (2 * h)
        np.testing.assert_allclose(derivative[r], difference, rtol=1e-6, atol=1e-7, err_msg=functions.parameters.index[r])


def test_coefficients_are_normalised_and_reproduce_the_point_posteriors(small_model):
    evidence = SCENARIOS["fop_neck"]
    functions = sensitivity_functions(small_model, evidence)
    x0 = functions.parameters["x0"].to_numpy()
    np.testing.assert_allclose(functions.C * x0 + functions.D, 1.0, atol=1e-12)
    point = small_model.posteriors(evidence)["posterior"]
    np.testing.assert_allclose(functions.posterior("x0"), np.tile(point[list(small_model.conditions)], (len(x0), 1)),
                               atol=1e-12)


def test_sensitivity_to_a_link_worked_by_hand(small_model):
    # adult with trauma and a peripheral rim: P(myositis | trauma) = 0.5, rim leak 0.05, native link p;
    # P(rim | myositis) = 1 - 0.95 (1 - p): f(p) = 0.5 (1 - 0.95 (1 - p)) / (0.5 (1 - 0.95 (1 - p)) + 0.5 * 0.05)
    evidence = {"trauma": "present", "age_band": "adult", "peripheral_rim": "present"}
    frame = one_way(small_model, evidence, target="myositis_ossificans")
    row = frame.loc["link:peripheral_rim<-myositis_ossificans"]
    f = lambda p: 0.5 * (1 - 0.95 * (1 - p)) / (0.5 * (1 - 0.95 * (1 - p)) + 0.5 * 0.05)  # noqa: E731
    fprime = lambda p: 0.5 * 0.95 * 0.5 * 0.05 / (0.5 * (1 - 0.95 * (1 - p)) + 0.5 * 0.05) ** 2  # noqa: E731
    p0 = 1 - 0.2 / 0.95                             # "usually" 0.8 with leak 0.05
    assert row["x0"] == pytest.approx(p0, abs=1e-15)
    assert row["posterior"] == pytest.approx(f(p0), abs=1e-12)
    assert row["derivative"] == pytest.approx(fprime(p0), abs=1e-10)
    assert row["x_low"] == pytest.approx(1 - 0.35 / 0.95, abs=1e-15)  # the verbal scale's low, 0.65
    assert row["at_low"] == pytest.approx(f(1 - 0.35 / 0.95), abs=1e-12)
    assert row["at_high"] == pytest.approx(f(1 - 0.1 / 0.95), abs=1e-12)
    assert row["swing"] == pytest.approx(f(1 - 0.1 / 0.95) - f(1 - 0.35 / 0.95), abs=1e-12)


def test_one_way_is_ranked_by_swing_and_targets_the_top_condition(small_model):
    frame = one_way(small_model, SCENARIOS["fop_neck"])
    assert frame.attrs["target"] == "fop"
    assert list(frame["swing"]) == sorted(frame["swing"], reverse=True)
    assert frame.index[0] == "risk:fop<-age_band=child"
    assert set(frame.index) == {p.name for p in small_model.knowledge.parameters}
    # the unobserved finding's parameters cannot move anything
    assert frame.loc["link:malformed_great_toe<-fop", "swing"] == 0.0


def test_an_unknown_target_is_named_with_suggestions(small_model):
    with pytest.raises(UnknownNameError, match="unknown condition 'fopp'; did you mean 'fop'"):
        one_way(small_model, SCENARIOS["fop_neck"], target="fopp")


def top_of(model, location, x, evidence):
    posterior = rerun(model, location, x, evidence)
    return model.conditions[int(np.argmax(posterior))]


@pytest.mark.parametrize("name", ["fop_neck", "trauma_rim", "soft", "none"])
def test_admissible_deviation_bounds_hold_just_inside_and_break_just_outside(small_model, name):
    evidence = SCENARIOS[name]
    frame = admissible_deviation(small_model, evidence)
    top = frame["top"].iloc[0]
    assert top == small_model.posteriors(evidence).index[0]
    eps = 1e-7
    interior = 0
    for r, location in enumerate(small_model.locations):
        row = frame.iloc[r]
        assert row["lower"] <= row["x0"] <= row["upper"]
        for end, step, taker in (("lower", -eps, row["lower_takes_over"]), ("upper", eps, row["upper_takes_over"])):
            bound = row[end]
            if not taker:              # no change up to the edge of the domain
                assert bound in (0.0, 1.0)
                edge = min(max(bound, 1e-9), 1 - 1e-9)
                assert top_of(small_model, location, edge, evidence) == top, (frame.index[r], end)
                continue
            interior += 1
            assert top_of(small_model, location, bound - step, evidence) == top, (frame.index[r], end)
            assert top_of(small_model, location, bound + step, evidence) == taker, (frame.index[r], end)
    if name != "none":
        assert interior >= 2


def test_changes_within_range_flags_the_parameters_that_can_flip_the_top(small_model):
    frame = admissible_deviation(small_model, SCENARIOS["fop_neck"])
    flips = frame[frame["changes_within_range"]]
    assert list(flips.index) == ["risk:fop<-age_band=child"]
    row = flips.iloc[0]
    assert row["x_low"] < row["lower"] and row["lower_takes_over"] == "myositis_ossificans"
    # on the record's scale: P(fop | child) = 1 - (1 - leak)(1 - q)
    assert row["value_lower"] == pytest.approx(1 - (1 - 0.005) * (1 - row["lower"]), abs=1e-15)


def test_parameter_importance_summarises_swings_over_scenarios(small_model):
    scenarios = {k: SCENARIOS[k] for k in ("fop_neck", "trauma_rim")}
    frame = parameter_importance(small_model, scenarios, negligible=1e-3)
    first = one_way(small_model, scenarios["fop_neck"])
    assert frame.index[0] == "risk:fop<-age_band=child"
    assert frame["max_swing"].iloc[0] >= first["swing"].iloc[0]
    assert frame.loc["risk:fop<-age_band=child", "top_changes"] == 1
    # the malformed toe is observed in neither scenario: its parameters never matter
    assert frame.loc["link:malformed_great_toe<-fop", "negligible"]
    assert frame.loc["link:malformed_great_toe<-fop", "exercised"] == 0
    assert frame.loc["leak:peripheral_rim", "exercised"] == 1          # observed in trauma_rim only
    assert frame.loc["prior:trauma=present", "exercised"] == 2
    assert not frame.loc["risk:fop<-age_band=child", "negligible"]
    assert list(frame["max_swing"]) == sorted(frame["max_swing"], reverse=True)


def test_sensitivity_functions_on_the_shipped_network(model):
    # an older patient with lung disease and widespread ossified lung lesions, plus a negative finding
    evidence = {"age_band": "older", "lung_disease": "present", "lung_ossification": "present",
                "lung_distribution": "widespread", "trabeculated_bone": "absent"}
    functions = sensitivity_functions(model, evidence)
    table = functions.parameters
    moving = np.flatnonzero((functions.A != 0).any(axis=1) | (functions.C != 0))
    assert len(moving) >= 40
    rng = np.random.default_rng(0)
    for r in rng.choice(moving, size=25, replace=False):
        for x in (table["x_low"].iloc[r], table["x_high"].iloc[r], 0.61):
            predicted = (functions.A[r] * x + functions.B[r]) / (functions.C[r] * x + functions.D[r])
            np.testing.assert_allclose(predicted, rerun(model, model.locations[r], x, evidence), rtol=0, atol=1e-9,
                                       err_msg=f"{table.index[r]} at x={x}")
    frame = admissible_deviation(model, evidence, functions)
    bounded = np.flatnonzero(frame["upper_takes_over"].to_numpy() != "")
    assert len(bounded) >= 5
    for r in bounded[:5]:
        row = frame.iloc[r]
        assert top_of(model, model.locations[r], row["upper"] - 1e-7, evidence) == row["top"]
        assert top_of(model, model.locations[r], row["upper"] + 1e-7, evidence) == row["upper_takes_over"]


@pytest.mark.parametrize("evidence", [
    {"mineral_soft_tissue": "present", "extent": "multifocal", "calcinosis_pattern": "fascial", "age_band": "child"},
    {"calcinosis_pattern": "combination", "extent": [0.2, 1.0, 0.5], "mineral_lung": "absent"},
    {"mineral_lung": "present", "lung_distribution": "lower_zones", "mineral_soft_tissue": [0.5, 1.0]},
])
def test_sensitivity_functions_of_ordered_and_presenting_numbers_equal_rerunning(model, evidence):
    """Every parameter of an ordered finding (a state co-varied with its siblings) and of the presenting
    findings (whose population rows follow) gives a sensitivity function equal to recomputation."""
    functions = sensitivity_functions(model, evidence)
    table = functions.parameters
    rows = [r for r, loc in enumerate(model.locations)
            if loc.array.startswith("ordered") or table["node"].iloc[r] in ("mineral_soft_tissue", "mineral_lung")]
    assert len(rows) >= 20
    for r in rows:
        for x in (table["x_low"].iloc[r], table["x_high"].iloc[r], 0.37):
            predicted = (functions.A[r] * x + functions.B[r]) / (functions.C[r] * x + functions.D[r])
            np.testing.assert_allclose(predicted, rerun(model, model.locations[r], x, evidence), rtol=0, atol=1e-9,
                                       err_msg=f"{table.index[r]} at x={x}")
