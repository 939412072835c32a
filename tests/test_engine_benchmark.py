"""scripts/benchmark.py runs end to end on tiny sizes and rejects bad options with exit status 2."""
from __future__ import annotations

import re

import pytest

from conftest import load_script



@pytest.fixture(scope="module")
def script():
    return load_script("benchmark")


TINY = ["--cases", "1", "--repeats", "1", "--batch-size", "300", "--draws", "20", "--pgmpy-worst-timeout", "0"]


@pytest.mark.parametrize("engines", [pytest.param(["--no-pyagrum"], id="pgmpy"),
                                     pytest.param([], id="pgmpy-and-pyagrum", marks=pytest.mark.slow)])
def test_tiny_run_reports_every_scenario_with_exact_answers(script, tmp_path, capsys, engines):
    """With pyAgrum the run takes minutes (its junction tree for a case with every finding observed
    is large), so that variant runs with the slow checks."""
    output = tmp_path / "benchmark.md"
    status = script.main([*TINY, *engines, "-o", str(output)])
    assert status == 0
    report = capsys.readouterr().out
    assert output.read_text() == report
    for scenario in script.SCENARIOS:
        assert f"| {scenario.name} |" in report
    assert "| known (age band, every history node) |" in report and "| unknown |" in report
    # every difference printed (engines, batch vs one by one, parameter sets) is at rounding level
    differences = [float(x) for x in re.findall(r"\| (\d\.\de[+-]\d\d) \|", report)]
    assert differences and max(differences) < 1e-12


@pytest.mark.parametrize("argv, words", [(["--cases", "0"], "expected a positive whole number, got '0'"),
                                         (["--context", "partly"], "invalid choice: 'partly'")])
def test_bad_options_exit_with_status_2(script, argv, words, capsys):
    with pytest.raises(SystemExit) as caught:
        script.main(argv)
    assert caught.value.code == 2
    assert words in capsys.readouterr().err
