"""Hostile input to the library: each case once crashed, answered wrongly or cost unbounded work."""
from __future__ import annotations

import io
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import bayesnet
from bayesnet.cohort import CohortRowError, score_csv
from bayesnet.inference.engine import ExactEngine, _evaluate
from bayesnet.cohort.csvguard import MAX_COLUMNS, MAX_LINE
from bayesnet.errors import EvidenceError, KnowledgeBaseError
from bayesnet.inference.evidence import encode_evidence
from bayesnet.knowledge.network import NoisyOrNetwork
from bruteforce import exact


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


# ---------------------------------------------------------------------------- cohort cells
UNHASHABLE = [["present"], {"state": "present"}, {"present"}, np.array(["present"]), np.array([np.nan])]


@pytest.mark.parametrize("cell", UNHASHABLE, ids=["list", "dict", "set", "ndarray", "nan-array"])
def test_unhashable_cells_are_row_errors(small_model, cell):
    frame = pd.DataFrame({"trauma": [cell, "present", None]})
    with pytest.raises(CohortRowError, match=r"^row 1 \(index 0\), column trauma: unknown state"):
        small_model.posteriors_batch(frame)
    scores = small_model.posteriors_batch(frame, on_error="skip")
    assert scores.index.tolist() == [1, 2] and scores.attrs["errors"]["row"].tolist() == [1]
    expected = small_model.posteriors_batch(frame.iloc[1:].astype(object))
    pd.testing.assert_frame_equal(scores, expected, check_like=False)


def test_a_numeric_cell_is_named_as_the_file_wrote_it(small_model):
    text = "trauma,age_band\n1,child\n1.0,child\nTrue,child\n"
    chunk = next(score_csv(small_model, io.StringIO(text), on_error="skip"))
    assert chunk.errors["value"].tolist() == ["1", "1.0", "True"]
    assert chunk.errors["message"].iloc[0].startswith("row 1, column trauma: unknown state '1'; valid states")
    frame = pd.DataFrame({"trauma": [np.float64(1.0)]})
    with pytest.raises(CohortRowError, match=r"unknown state 1\.0; valid states"):
        small_model.posteriors_batch(frame)


def test_state_names_that_look_like_numbers_or_booleans_stay_text(small_copy):
    nodes = small_copy / "nodes.csv"
    nodes.write_text(nodes.read_text().replace("age_band,context,child|adult", "age_band,context,true|false"))
    priors = small_copy / "context_priors.csv"
    priors.write_text(priors.read_text().replace("age_band,child", "age_band,true").replace("age_band,adult", "age_band,false"))
    risks = small_copy / "risk_factors.csv"
    risks.write_text(risks.read_text().replace("age_band,child", "age_band,true"))
    model = bayesnet.load(small_copy)
    scores = next(score_csv(model, io.StringIO("age_band\ntrue\nfalse\n"))).posteriors
    expected = model.posteriors_batch(pd.DataFrame({"age_band": ["true", "false"]}, index=[1, 2]))
    np.testing.assert_array_equal(scores.to_numpy(), expected.to_numpy())


# ---------------------------------------------------------------------------- bounded reading
def _score(model, text: str, **kwargs) -> int:
    return sum(len(chunk.posteriors) for chunk in score_csv(model, io.StringIO(text), **kwargs))


def test_a_line_with_more_fields_than_the_header_stops_at_once(small_model):
    with pytest.raises(EvidenceError, match="the cases: line 3 has more fields than the 2 columns of the header"):
        _score(small_model, "trauma,age_band\npresent,child\n" + ",".join(["present"] * 1_000_000) + "\n")


def test_a_header_with_too_many_columns_names_the_cap(small_model):
    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 5))
    with pytest.raises(EvidenceError, match=f"the header \\(line 1\\) has more than {MAX_COLUMNS} columns"):
        _score(small_model, header + "\n")


def test_a_line_longer_than_the_cap_is_refused_without_reading_it_all(small_model):
    class Endless(io.RawIOBase):
        """A header, then one line that never ends."""

        read_bytes = 0

        def readable(self):
            return True

        def read(self, size=-1):
            size = 1 << 16 if size is None or size < 0 else size
            self.read_bytes += size
            return b"trauma\n" if self.read_bytes == size else b"x" * size

    source = Endless()
    with pytest.raises(EvidenceError, match=f"line 2 is longer than {MAX_LINE} bytes"):
        list(score_csv(small_model, source))
    assert source.read_bytes < 4 * MAX_LINE + (1 << 20)


def test_quoted_fields_follow_the_csv_rules(small_model):
    text = 'id,trauma\n"a,b\nc",present\n"say ""hi""",absent\nx"y,\n'
    assert _score(small_model, text, id_column="id") == 3
    assert _score(small_model, "trauma,age_band\r\npresent,child\r\n\r\nabsent,\r\n") == 2
    assert _score(small_model, "trauma,age_band\rpresent,child\rabsent,\r") == 2


# ---------------------------------------------------------------------------- knowledge-base files
@pytest.mark.parametrize("encoding, words", [("utf-16", r"nodes\.csv:1: not UTF-8 text \(byte 0xff\)"),
                                             ("latin-1", r"nodes\.csv:2: not UTF-8 text \(byte 0xc2\)")])
def test_a_knowledge_base_file_that_is_not_utf8_is_named(small_copy, encoding, words):
    nodes = small_copy / "nodes.csv"
    text = nodes.read_text(encoding="utf-8").replace("Age: child", "Âge: child")
    nodes.write_bytes(text.encode(encoding))
    with pytest.raises(KnowledgeBaseError, match=words + "; the knowledge-base files must be UTF-8"):
        bayesnet.load(small_copy)


def test_a_utf8_byte_order_mark_is_accepted(small_copy, small_model):
    nodes = small_copy / "nodes.csv"
    nodes.write_bytes(b"\xef\xbb\xbf" + nodes.read_bytes())
    assert bayesnet.load(small_copy).conditions == small_model.conditions


@pytest.mark.parametrize("n, N, field, words", [("", "20", "n", "N is given without n"),
                                                ("3", "", "N", "n is given without N"),
                                                ("\u00b2", "20", "n", "expected a whole number of patients")])
def test_counts_must_come_in_pairs_of_whole_numbers(small_copy, n, N, field, words):
    priors = small_copy / "condition_priors.csv"
    priors.write_text(priors.read_text(encoding="utf-8").replace("fop,0.005,0.001,0.01,assumed,,,,,,,test value",
                                                                 f"fop,0.005,0.001,0.01,assumed,,,,,{n},{N},test value"),
                      encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=f"condition_priors.csv:3 \\[{field}\\]: {words}"):
        bayesnet.load(small_copy)


def test_a_field_too_large_for_the_csv_module_is_a_problem(small_copy):
    links = small_copy / "links.csv"
    links.write_text(links.read_text().replace("test value", "x" * 200_000, 1))
    with pytest.raises(KnowledgeBaseError, match=r"problem:\n  links\.csv:2: not a readable CSV line: field larger than field limit"):
        bayesnet.load(small_copy)


# ---------------------------------------------------------------------------- the general path's precision
@pytest.mark.parametrize("small", [1e-6, 1e-9, 1e-12, 1e-15])
def test_soft_evidence_with_a_link_near_one_keeps_full_precision_on_the_general_path(small):
    """The numpy sweep (for what the kernel declines) computed (1 - p) lo + p hi as lo + p (hi - lo),
    which loses the difference when p is 1 - 1e-9: posteriors were off by up to 3e-8."""
    net = NoisyOrNetwork.from_arrays(context={"k": (["a", "b"], np.array([0.5, 0.5]))}, conditions=["c0", "c1"],
                                     condition_leak=np.array([0.5, 0.5]), risk={"k": np.zeros((2, 2))},
                                     findings=["f"], finding_leak=np.array([0.15]), link=np.array([[0.3, 1 - 1e-9]]))
    engine = ExactEngine(net)
    for context in ([1.0, 1.0], [1.0, 1e-120]):  # the second is declined by the kernel
        evidence = {"k": context, "c1": "present", "f": [1.0, small]}
        encoded = encode_evidence(net, evidence)
        total, expected = exact(net, {"k": context, "c1": [0, 1], "f": [1.0, small]})
        padded = np.concatenate([*encoded.context, np.zeros(1)])
        log_evidence, posterior = _evaluate(engine.structure, engine._parameters, padded[None],
                                            encoded.conditions[None], encoded.findings[None])
        np.testing.assert_allclose(posterior[0], [float(p) for p in expected], rtol=0, atol=1e-15)
        assert log_evidence[0] == pytest.approx(math.log(total.numerator) - math.log(total.denominator), rel=1e-14)
        answer = engine.query(encoded)
        np.testing.assert_allclose(answer.posterior, [float(p) for p in expected], rtol=0, atol=1e-15)
