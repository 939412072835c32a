"""Hostile input to the library: each case once crashed, answered wrongly or cost unbounded work."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import bayesnet
from bayesnet.errors import EvidenceError


# ---------------------------------------------------------------------------- numbers out of range
@pytest.mark.parametrize("value", [10**400, [10**400, 1], [1, -(10**400)], 10**5000, {"absent": 10**400, "present": 1}],
                         ids=["int", "in-list", "negative", "too-long-to-print", "in-mapping"])
def test_an_integer_too_large_for_a_float_is_an_evidence_error(small_model, value):
    with pytest.raises(EvidenceError, match="trauma"):
        small_model.posteriors({"trauma": value})


def test_the_subnormal_vector_of_the_issue_equals_hard_evidence(model):
    node = "punctate_or_reticular_calcification"
    soft = model.posteriors({node: [0, 5e-324]})
    hard = model.posteriors({node: "present"})
    pd.testing.assert_frame_equal(soft, hard)
    reference = model.reference_posteriors({node: "present"})
    np.testing.assert_allclose(soft["posterior"][reference.index], reference, rtol=0, atol=1e-12)


def test_equal_subnormal_likelihoods_on_a_context_node_are_no_evidence(model):
    pd.testing.assert_frame_equal(model.posteriors({"age_band": [5e-324] * 4}), model.posteriors({}))


def _scaled(vector: list[float]) -> list[float]:
    """The vector divided by its largest entry in exact arithmetic, then rounded once."""
    top = max(Fraction(v) for v in vector)
    return [float(Fraction(v) / top) for v in vector]


@pytest.mark.parametrize("vectors", [
    {"peripheral_rim": [0, 5e-324], "trauma": [5e-324, 1e-320]},                      # subnormal
    {"peripheral_rim": [3e-310, 1e-309], "age_band": [1e-320, 2e-320]},              # subnormal, mixed
    {"peripheral_rim": [1e-300, 3e-300], "trabeculated_bone": [2e-200, 1e-200]},     # tiny
    {"peripheral_rim": [1e308, 1.7e308], "age_band": [1.5e308, 1e300], "trauma": [1e200, 3e200]},  # huge
    {"neck_involved": [1e-30, 1e30], "amorphous_mineral": [7e-310, 0.0], "fop": [1e-250, 1e-251]},
])
def test_soft_evidence_at_any_scale_agrees_with_pgmpy(small_model, vectors):
    ours = small_model.posteriors(vectors)["posterior"]
    reference = small_model.reference_posteriors(vectors)
    np.testing.assert_allclose(ours[reference.index], reference, rtol=0, atol=1e-12)
    rescaled = small_model.posteriors({node: _scaled(v) for node, v in vectors.items()})["posterior"]
    np.testing.assert_allclose(ours, rescaled[ours.index], rtol=0, atol=1e-15)


def test_soft_evidence_on_the_shipped_network_at_extreme_scales_agrees_with_pgmpy(model):
    evidence = {"punctate_or_reticular_calcification": [1e-320, 4e-320], "age_band": [1e308, 1e307, 1e306, 1e305],
                "fluid_fluid_levels": [1e-300, 3e-300]}
    ours = model.posteriors(evidence)["posterior"]
    reference = model.reference_posteriors(evidence)
    np.testing.assert_allclose(ours[reference.index], reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("vector", [[1.0, 1e-310], [1e300, 1e-100], [5e-324, 1.0]])
def test_a_vector_whose_ratio_is_below_the_normal_range_is_refused(small_model, vector):
    with pytest.raises(EvidenceError, match=r"soft evidence on trauma spans too wide a range.*give 0 for a state"):
        small_model.posteriors({"trauma": vector})


def test_log_evidence_does_not_depend_on_the_scale_of_soft_evidence(small_model):
    one = small_model.posteriors({"peripheral_rim": [0.2, 0.8]}).attrs["log_evidence"]
    assert small_model.posteriors({"peripheral_rim": [2e-301, 8e-301]}).attrs["log_evidence"] == pytest.approx(one)
    assert small_model.posteriors({"peripheral_rim": [0.25, 1.0]}).attrs["log_evidence"] == pytest.approx(one)
