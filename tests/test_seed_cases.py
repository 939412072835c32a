"""Cases written from the source documents rank the condition they describe first."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bayesnet.cli.main import parse_evidence

CASES = list(csv.DictReader((Path(__file__).parent / "cases.csv").open(encoding="utf-8")))


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
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
