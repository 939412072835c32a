"""scripts/sensitivity.py on the small network: the files it writes, and its bad-input messages."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

import bayesnet

from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent
SMALL = Path(__file__).parent / "data" / "small"
SCENARIOS = Path(__file__).parent / "data" / "small_scenarios.csv"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def script():
    return load_script("sensitivity")


def base(tmp_path):
    return ["--priors", str(SMALL), "--scenarios", str(SCENARIOS), "-o", str(tmp_path)]


def header(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle))


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 2000, path


def test_oneway_writes_the_table_and_a_tornado_plot(script, tmp_path):
    assert script.main(["oneway", *base(tmp_path), "--case", "fop_neck"]) == 0
    table = tmp_path / "oneway_fop_neck_fop.csv"
    assert header(table) == ["parameter", "role", "kind", "value", "low", "high", "x0", "x_low", "x_high", "A", "B",
                             "C", "D", "posterior", "derivative", "at_low", "at_high", "swing"]
    content = rows(table)
    assert len(content) == 20 and content[0]["parameter"] == "risk:fop<-age_band=child"
    assert_png(tmp_path / "tornado_fop_neck_fop.png")


def test_oneway_with_evidence_and_a_target(script, tmp_path):
    argv = ["oneway", *base(tmp_path), "trauma=present", "peripheral_rim=present", "--target", "calcinosis"]
    assert script.main(argv) == 0
    content = rows(tmp_path / "oneway_evidence_calcinosis.csv")
    assert {r["parameter"] for r in content} >= {"leak:calcinosis", "link:neck_involved<-calcinosis"}
    assert_png(tmp_path / "tornado_evidence_calcinosis.png")


def test_deviation_writes_the_intervals(script, tmp_path):
    assert script.main(["deviation", *base(tmp_path), "--case", "fop_neck"]) == 0
    content = {r["parameter"]: r for r in rows(tmp_path / "deviation_fop_neck.csv")}
    assert set(header(tmp_path / "deviation_fop_neck.csv")) >= {"top", "lower", "upper", "lower_takes_over",
                                                                  "upper_takes_over", "changes_within_range"}
    flip = content["risk:fop<-age_band=child"]
    assert flip["changes_within_range"] == "True" and flip["lower_takes_over"] == "myositis_ossificans"


def test_montecarlo_writes_a_summary_and_a_plot_and_is_reproducible(script, tmp_path):
    argv = ["montecarlo", *base(tmp_path), "--case", "fop_neck", "--draws", "200", "--seed", "0", "--save-draws",
            "--no-progress"]
    assert script.main(argv) == 0
    summary = tmp_path / "montecarlo_fop_neck.csv"
    assert header(summary) == ["condition", "point", "mean", "median", "q05", "q95", "top_share"]
    first = summary.read_text()
    assert len(rows(tmp_path / "montecarlo_fop_neck_draws.csv")) == 200
    assert_png(tmp_path / "montecarlo_fop_neck.png")
    assert script.main(argv) == 0
    assert summary.read_text() == first


def test_whatif_over_the_scenario_set(script, tmp_path):
    assert script.main(["whatif", *base(tmp_path)]) == 0
    content = rows(tmp_path / "whatif.csv")
    assert [(r["scenario"], r["scale"]) for r in content][:2] == [("fop_neck", "extreme"), ("fop_neck", "cautious")]
    assert len(content) == 6
    extreme = rows(tmp_path / "scale_extreme.csv")
    assert [r["phrase"] for r in extreme] == ["usually", "often", "may"]
    assert float(extreme[0]["value"]) == pytest.approx(8 / 9)      # usually 0.8 at log-odds x 1.5
    scale = tmp_path / "flat.csv"
    scale.write_text("phrase,value,low,high,anchor,note\nusually,0.5,0.4,0.6,,\noften,0.5,0.4,0.6,,\n"
                     "may,0.5,0.4,0.6,,\n")
    assert script.main(["whatif", *base(tmp_path), "--scale", str(scale)]) == 0
    assert {r["scale"] for r in rows(tmp_path / "whatif.csv")} == {"flat"}


def test_report_writes_markdown_with_its_plots(script, tmp_path):
    assert script.main(["report", *base(tmp_path), "--draws", "100", "--no-progress"]) == 0
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Scenarios", "## The parameters that matter most", "## Verbal-scale what-if",
                    "## Parameters that never matter"):
        assert heading in report
    assert "risk:fop<-age_band=child" in report            # the parameter that matters most
    assert f"(version unversioned, sha256 `{bayesnet.load(SMALL).knowledge_base.sha256}`)" in report
    never = report[report.index("## Parameters that never matter"):]
    assert "`link:malformed_great_toe<-fop`" in never.split("Another")[1]   # never observed: not exercised
    assert "| fop_neck | fop | fop |" in report                             # expected and model's top
    for png in ("importance.png", "tornado_fop_neck.png", "montecarlo_amorphous.png"):
        assert f"]({png})" in report
        assert_png(tmp_path / png)
    importance = rows(tmp_path / "importance.csv")
    assert importance[0]["parameter"] == "risk:fop<-age_band=child"
    assert {"max_swing", "top_changes", "negligible"} <= set(importance[0])


@pytest.mark.parametrize("argv, message", [
    (["oneway", "--case", "nope"], "unknown case of"),
    (["oneway", "nek_involved=present"], "unknown node 'nek_involved'; did you mean 'neck_involved'"),
    (["oneway", "neck_involved=present", "--case", "fop_neck"], "either evidence (node=state ...) or --case"),
    (["oneway", "neck_involved=present", "--target", "fopp"], "unknown condition 'fopp'; did you mean 'fop'"),
    (["montecarlo", "--case", "fop_neck", "--draws", "0"], "--draws: expected a positive whole number, got '0'"),
    (["montecarlo", "--case", "fop_neck", "--seed", "-1"], "--seed: expected a non-negative whole number"),
    (["whatif", "--scale", "missing.csv"], "expected a verbal scale file"),
    (["oneway", "neck_involved"], "evidence must be written node=state"),
    (["report", "--negligible", "2"], "--negligible: expected a number between 0 and 1, got '2'"),
])
def test_bad_input_is_one_message_and_exit_2(script, tmp_path, capsys, argv, message):
    command, rest = argv[0], argv[1:]
    status = script.main([command, *base(tmp_path), *rest])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_a_bad_scenario_file_names_the_case(script, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("case,evidence\nfine,neck_involved=present\nbroken,neck_involved=maybe\n")
    status = script.main(["report", "--priors", str(SMALL), "--scenarios", str(bad), "-o", str(tmp_path)])
    assert status == 2
    assert "case 'broken'" in capsys.readouterr().err


def test_the_shipped_scenario_set_is_valid_evidence_for_the_shipped_model(model):
    from bayesnet.analysis.scenarios import read_scenarios

    scenarios = read_scenarios(ROOT / "scripts" / "scenarios.csv")
    assert len(scenarios) >= 6
    for scenario in scenarios:
        model.encode(scenario.evidence)
        assert scenario.fields["expected_top"] in model.conditions
