"""The loader validates every file and reports every problem at once, with file, line and field."""
from __future__ import annotations

from pathlib import Path

import pytest

import bayesnet
from bayesnet.errors import KnowledgeBaseError


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as caught:
        bayesnet.load(folder)
    return [str(p) for p in caught.value.problems]


def test_shipped_and_small_knowledge_bases_load(model, small_model):
    assert len(model.conditions) >= 22 and len(model.findings) >= 40
    assert small_model.conditions == ("myositis_ossificans", "fop", "calcinosis")


def test_every_problem_is_reported_at_once_with_file_line_and_field(small_copy):
    edit(small_copy / "links.csv", "amorphous_mineral,,calcinosis,0.7", "amorphous_mineral,,calcinosis,0.7x")
    edit(small_copy / "links.csv", "neck_involved,,calcinosis", "neck_involvd,,calcinosis")
    edit(small_copy / "condition_priors.csv", "fop,0.005", "fop,1.5")
    problems = problems_of(small_copy)
    assert len(problems) == 3
    assert any(p.startswith("links.csv:6 [value]") and "'0.7x'" in p for p in problems)
    assert any(p.startswith("links.csv:8 [finding]") and "'neck_involvd'" in p and "neck_involved" in p for p in problems)
    assert any(p.startswith("condition_priors.csv:3 [value]") and "1.5" in p for p in problems)


def test_missing_column_names_the_file_and_the_expected_columns(small_copy):
    edit(small_copy / "finding_leaks.csv", "finding,state,value", "findings,state,value")
    (problem,) = problems_of(small_copy)
    assert problem.startswith("finding_leaks.csv:1") and "missing column(s) finding" in problem


def test_a_cause_below_its_leak_is_rejected(small_copy):
    edit(small_copy / "links.csv", "amorphous_mineral,,calcinosis,0.7,0.5,0.9", "amorphous_mineral,,calcinosis,0.05,0.01,0.9")
    (problem,) = problems_of(small_copy)
    assert "links.csv:6 [value]" in problem and "below the leak 0.1" in problem and "finding_leaks.csv:5" in problem


@pytest.mark.parametrize("slowly, refused", [("0.19999999999", False), ("0.1", True)])
def test_an_ordered_cause_that_lowers_its_finding_is_refused_beyond_rounding(tmp_path, slowly, refused):
    """Myositis ossificans's growth rows sit on the constraint (its cumulative probabilities are 2/3
    of the leak's at both states). Moved below it by rounding they load; by 0.1, they are refused."""
    import shutil

    folder = tmp_path / "priors"
    shutil.copytree(bayesnet.model.default_priors_path(), folder)
    edit(folder / "links.csv", "growth,slowly_enlarging,myositis_ossificans_traumatic,0.2,",
         f"growth,slowly_enlarging,myositis_ossificans_traumatic,{slowly},")
    if refused:
        assert any("growth <- myositis_ossificans_traumatic: a cause can only raise" in p for p in problems_of(folder))
    else:
        bayesnet.load(folder)


def test_verbal_rows_take_their_value_from_the_scale(small_copy, small_model):
    link = next(p for p in small_model.knowledge.parameters if p.name == "link:peripheral_rim<-myositis_ossificans")
    assert (link.kind, link.value, link.low, link.high) == ("verbal", 0.8, 0.65, 0.9)
    edit(small_copy / "links.csv", ",,,verbal,001_f79af83885ca3da5.txt,heterotopic bone is usually denser peripherally,usually",
         ",,,verbal,001_f79af83885ca3da5.txt,heterotopic bone is usually denser peripherally,mostly")
    (problem,) = problems_of(small_copy)
    assert "[phrase]" in problem and "'mostly' is not a phrase of verbal_scale.csv" in problem and "usually" in problem


def test_complement_reverses_a_verbal_value(small_copy):
    edit(small_copy / "links.csv", "heterotopic bone is usually denser peripherally,usually,",
         "heterotopic bone is usually denser peripherally,usually,yes")
    kb = bayesnet.load(small_copy).knowledge
    link = next(p for p in kb.parameters if p.name == "link:peripheral_rim<-myositis_ossificans")
    assert (link.value, link.low, link.high) == pytest.approx((0.2, 0.1, 0.35))


def test_counts_must_match_a_reported_value(small_copy):
    edit(small_copy / "links.csv", "amorphous_mineral,,calcinosis,0.7,0.5,0.9,assumed,,,,,,",
         "amorphous_mineral,,calcinosis,0.7,0.5,0.9,reported,002_5264382bfc3309ff.txt,x,,,11,18")
    (problem,) = problems_of(small_copy)
    assert "does not match n/N = 11/18 = 0.611" in problem


def test_multistate_context_priors_must_sum_to_one(small_copy):
    edit(small_copy / "context_priors.csv", "age_band,adult,0.8", "age_band,adult,0.7")
    (problem,) = problems_of(small_copy)
    assert "age_band sum to 0.9" in problem


def test_reported_kinds_need_source_and_quote(small_copy):
    edit(small_copy / "condition_priors.csv", "fop,0.005,0.001,0.01,assumed", "fop,0.005,0.001,0.01,reported")
    problems = problems_of(small_copy)
    assert problems == ["condition_priors.csv:3 [source]: a reported value needs its source",
                        "condition_priors.csv:3 [quote]: a reported value needs its quote"]


def test_a_missing_folder_is_named(tmp_path):
    (problem,) = problems_of(tmp_path / "nowhere")
    assert "nowhere" in problem and "expected a folder" in problem


def test_every_parameter_keeps_its_provenance(model):
    table = model.provenance()
    assert len(table) == len(model.knowledge.parameters)
    assert set(table["kind"]) <= {"reported", "derived", "verbal", "assumed", "literature"}
    assert (table["low"] <= table["value"]).all() and (table["value"] <= table["high"]).all()
    sourced = table[table["kind"] != "assumed"]
    assert (sourced["source"].str.len() > 0).all() and (sourced["quote"].str.len() > 0).all()
    # a literature row names a stored excerpt; the seeds' rows it replaces are kept, set aside
    excerpts = {p.stem for p in (model.knowledge.path / "sources").iterdir()}
    assert set(table.loc[table["kind"] == "literature", "source"]) <= excerpts
    replaced = {p.name for p in model.knowledge.set_aside}
    assert replaced <= set(table["parameter"])
