"""Cases written from the source documents rank the condition they describe first."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bayesnet.cli.main import parse_evidence

CASES = list(csv.DictReader((Path(__file__).parent / "cases.csv").open(encoding="utf-8")))


#: seed cases the current knowledge base does not rank first, and why (reported, not tuned away)
KNOWN_MISSES = {
    "extraskeletal_chondrosarcoma_rings_arcs": "dermatomyositis calcinosis (0.14) leads extraskeletal chondrosarcoma "
                                               "(0.06, sixth): the case leaves the connective tissue disease "
                                               "unobserved, and a mass in a limb muscle is common in dermatomyositis "
                                               "calcinosis, whose base rate is about 70 times the sarcoma's; rings "
                                               "and arcs (0.5 against the leak's 0.02) do not make up the "
                                               "difference. With connective_tissue_disease=none the sarcoma is "
                                               "fourth (0.08) behind renal osteodystrophy (0.14)",
    "parosteal_osteosarcoma_distal_femur": "myositis ossificans (0.57) leads parosteal osteosarcoma (0.10): the "
                                           "tumour's base rate follows its published incidence (about 0.15 per "
                                           "million a year), about 1/1,700 of myositis ossificans's; the central "
                                           "density, the cortex and the cleft give it a likelihood ratio near "
                                           "1,250, and the cleft also favours myositis ossificans. With malignant "
                                           "osteoid on biopsy the tumour is first (0.63)",
    "extraskeletal_osteosarcoma_calf": "myositis ossificans (0.24) leads extraskeletal osteosarcoma (0.14): the "
                                       "tumour's base rate follows its published share (under 1% of soft-tissue "
                                       "sarcomas), about 1/1,600 of myositis ossificans's. With malignant osteoid "
                                       "on biopsy the tumour is first (0.59)",
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_MISSES[c["case"]], strict=True))
                                  if c["case"] in KNOWN_MISSES else c for c in CASES], ids=[c["case"] for c in CASES])
def test_case_ranks_the_expected_condition_first(model, case):
    frame = model.posteriors(parse_evidence(case["evidence"].split()))
    assert frame.index[0] == case["expected_top"], frame.head(4).to_string()


def test_cases_cover_the_required_scenarios():
    assert len(CASES) >= 6
    assert len({c["expected_top"] for c in CASES}) >= 6


def test_the_sensitivity_scenarios_are_the_seed_cases():
    """scripts/scenarios.csv ships with the scripts; it must not drift from the tested cases."""
    root = Path(__file__).resolve().parents[1]
    assert (root / "scripts" / "scenarios.csv").read_bytes() == (root / "tests" / "cases.csv").read_bytes()
