"""The command line: its outputs, its exports, and one clear message with exit status 2 on bad input."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bayesnet.cli.main import main
from conftest import SMALL

SHARED = Path(__file__).resolve().parents[2] / "shared"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_query_prints_the_ranked_differential(capsys, small_model):
    code, out, err = run(capsys, "--priors", str(SMALL), "query", "trauma=present", "peripheral_rim=present")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["condition", "posterior", "prior", "ratio"]
    expected = small_model.posteriors({"trauma": "present", "peripheral_rim": "present"})
    assert [line.split()[1] for line in lines[1:-1]] == list(expected.index)
    assert lines[1].split()[2] == f"{expected['posterior'].iloc[0]:.4f}"
    assert lines[-1].startswith(f"no modelled condition: {expected.attrs['none']:.4f}")


def test_query_json_matches_the_library(capsys, small_model):
    code, out, _ = run(capsys, "--priors", str(SMALL), "query", "--json", "peripheral_rim=0.2,0.8")
    assert code == 0
    payload = json.loads(out)
    expected = small_model.posteriors({"peripheral_rim": [0.2, 0.8]})
    assert [row["condition"] for row in payload["differential"]] == list(expected.index)
    assert payload["none"] == pytest.approx(expected.attrs["none"], abs=1e-15)
    assert payload["none_prior"] == pytest.approx(expected.attrs["none_prior"], abs=1e-15)
    np.testing.assert_allclose([row["posterior"] for row in payload["differential"]], expected["posterior"], atol=1e-15)


def test_nodes_lists_the_vocabulary(capsys):
    code, out, _ = run(capsys, "--priors", str(SMALL), "nodes", "--type", "finding", "--json")
    assert code == 0
    assert {row["node"] for row in json.loads(out)} == {"trabeculated_bone", "malformed_great_toe", "peripheral_rim",
                                                        "amorphous_mineral", "neck_involved"}


def test_provenance_csv_has_the_required_columns_and_passes_the_quote_check(capsys, tmp_path, model):
    target = tmp_path / "provenance.csv"
    code, _, _ = run(capsys, "provenance", "--format", "csv", "-o", str(target))
    assert code == 0
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == len(model.knowledge.parameters)
    assert {"node", "kind", "source", "quote", "value", "low", "high", "n", "N"} <= set(rows[0])
    checker = SHARED / "tools" / "check_quotes.py"
    if not checker.is_file():
        pytest.skip(f"{checker} is not beside this checkout")
    sources = Path(__file__).resolve().parent.parent / "priors" / "sources"
    result = subprocess.run([sys.executable, str(checker), "--sources", str(sources), str(target)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]


@pytest.mark.parametrize("fmt, tolerance", [("xmlbif", 1e-9), ("bif", 1e-6)])
def test_export_is_read_by_pyagrum_with_the_same_answers(capsys, tmp_path, model, fmt, tolerance):
    gum = pytest.importorskip("pyagrum")
    target = tmp_path / ("network.bifxml" if fmt == "xmlbif" else "network.bif")
    code, _, err = run(capsys, "export", "--format", fmt, "-o", str(target))
    assert code == 0 and str(target) in err
    bn = gum.loadBN(str(target))
    assert {*model.context, *model.conditions, *model.findings} <= set(bn.names())
    evidence = {model.findings[0]: "present", model.findings[1]: "absent", model.context[0]: model.states(model.context[0])[1]}
    engine = gum.LazyPropagation(bn)
    engine.setTargets(set(model.conditions))  # only the conditions: unobserved findings drop out as barren
    engine.setEvidence({**evidence, **({"population": "present"} if "population" in bn.names() else {})})
    engine.makeInference()
    theirs = np.array([engine.posterior(c)[1] for c in model.conditions])
    ours = model.posteriors(evidence)["posterior"][list(model.conditions)].to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tolerance)


@pytest.mark.parametrize("argv, words", [
    (["query", "trabeculated_bon=present"], "unknown node 'trabeculated_bon'; did you mean 'trabeculated_bone'?"),
    (["query", "trauma=presnt"], "unknown state of trauma 'presnt'; did you mean 'present'?"),
    (["query", "trauma"], "evidence must be written node=state, node=a,b (one of these states), node!=a"),
    (["query", "trauma=present", "trauma=absent"], "trauma is given twice"),
    (["query", "peripheral_rim=0.2,x"], "soft evidence must be numbers separated by commas"),
    (["query", "peripheral_rim=0.5"], "must have 2 numbers"),
])
def test_bad_evidence_exits_2_with_one_message(capsys, argv, words):
    code, out, err = run(capsys, "--priors", str(SMALL), *argv)
    assert code == 2 and out == ""
    assert err.startswith("bayesnet: error: ") and words in err and err.count("\n") == 1


def test_a_broken_knowledge_base_is_named_with_file_and_line(capsys, small_copy):
    (small_copy / "links.csv").write_text((small_copy / "links.csv").read_text().replace("0.7,0.5,0.9", "0.7,0.9,0.5", 1))
    code, _, err = run(capsys, "--priors", str(small_copy), "query")
    assert code == 2 and "links.csv:2 [low]: expected low <= value <= high, got 0.9 <= 0.7 <= 0.5" in err


def test_an_unwritable_output_exits_2(capsys, tmp_path):
    target = tmp_path / "no" / "such" / "dir.csv"
    code, _, err = run(capsys, "--priors", str(SMALL), "provenance", "-o", str(target))
    assert code == 2 and err == f"bayesnet: error: cannot write {target}: No such file or directory\n"


def test_usage_errors_exit_2_without_traceback():
    for argv in (["frobnicate"], ["query", "--top", "many"], ["export", "--format", "png", "-o", "x"]):
        result = subprocess.run([sys.executable, "-m", "bayesnet", *argv], capture_output=True, text=True)
        assert result.returncode == 2, argv
        assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_impossible_evidence_from_the_command_line_exits_2(capsys, small_copy):
    links = small_copy / "links.csv"
    links.write_text(links.read_text().replace("trabeculated_bone,,myositis_ossificans,0.7,0.5,0.9",
                                               "trabeculated_bone,,myositis_ossificans,1.0,0.5,1.0"))
    code, _, err = run(capsys, "--priors", str(small_copy), "query", "myositis_ossificans=present", "trabeculated_bone=absent")
    assert code == 2 and "impossible under the model" in err and "trabeculated_bone=absent" in err


def test_provenance_lists_the_cells_left_at_the_leak_and_counts_every_number(capsys, model):
    code, out, _ = run(capsys, "provenance", "--leak-cells")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(model.knowledge.no_effect) > 0
    assert {"finding", "condition", "leak"} <= set(rows[0])
    code, out, _ = run(capsys, "provenance", "--summary")
    summary = {row["kind"]: row for row in csv.DictReader(io.StringIO(out))}
    assert int(summary["assumed"]["cells at the leak"]) == len(rows)
    assert sum(int(r["numbers"]) for r in summary.values()) == len(model.knowledge.parameters) + len(rows)


def test_nodes_can_be_searched_by_words_of_their_name_or_description(capsys, model):
    code, out, _ = run(capsys, "nodes", "--search", "periosteal WAVY")
    assert code == 0 and "periosteal_reaction_wavy" in out and "periosteal_reaction_irregular" not in out
    code, out, _ = run(capsys, "nodes", "--search", "lung", "--type", "finding")
    assert code == 0 and "mineral_lung" in out and "lung_distribution" in out and "dipo_idiopathic" not in out
    code, _, err = run(capsys, "nodes", "--search", "xyzzy")
    assert code == 2 and "no node matches 'xyzzy'" in err
