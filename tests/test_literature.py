"""The literature layer: rows of kind literature beside the seeds' rows, set aside on request."""
from __future__ import annotations

from pathlib import Path

import pytest

import bayesnet
from bayesnet.errors import KnowledgeBaseError

EXCERPT = ("Author A, Author B. 2020. A review of ossification. Journal. https://doi.org/10.1000/example\n"
           "Trabeculated bone was present in 45 of 50 lesions.\n")


def with_literature(folder: Path, rows: str, excerpt: str = EXCERPT) -> Path:
    (folder / "sources").mkdir(exist_ok=True)
    (folder / "sources" / "review2020.txt").write_text(excerpt, encoding="utf-8")
    links = folder / "links.csv"
    links.write_text(links.read_text() + rows, encoding="utf-8")
    return folder


BESIDE = ("trabeculated_bone,,myositis_ossificans,0.9,0.8,0.96,literature,review2020,"
          "Trabeculated bone was present in 45 of 50 lesions.,,,45,50,a series replaces the assumed 0.7\n")
ONLY = ("malformed_great_toe,,myositis_ossificans,0.2,0.1,0.3,literature,review2020,"
        "Trabeculated bone was present in 45 of 50 lesions.,,,,,\n")


def link(model, name):
    return next(p for p in model.knowledge.parameters if p.name == name)


def test_a_literature_row_replaces_the_seed_row_and_the_seeds_answer_alone_on_request(small_copy):
    folder = with_literature(small_copy, BESIDE)
    model = bayesnet.load(folder)
    used = link(model, "link:trabeculated_bone<-myositis_ossificans")
    assert (used.kind, used.value, used.n, used.N) == ("literature", 0.9, 45, 50)
    assert [p.kind for p in model.knowledge.set_aside] == ["assumed"]
    seeds = bayesnet.load(folder, literature=False)
    assert link(seeds, "link:trabeculated_bone<-myositis_ossificans").value == 0.7
    assert [p.kind for p in seeds.knowledge.set_aside] == ["literature"]
    evidence = {"trabeculated_bone": "present"}
    assert model.posteriors(evidence).loc["myositis_ossificans", "posterior"] > \
        seeds.posteriors(evidence).loc["myositis_ossificans", "posterior"]


def test_a_link_only_the_literature_gives_is_at_the_leak_without_it(small_copy):
    folder = with_literature(small_copy, ONLY)
    cells = folder / "cells.csv"
    cells.write_text(cells.read_text().replace("malformed_great_toe,-,link,-", "malformed_great_toe,link,link,-"))
    model = bayesnet.load(folder)
    assert link(model, "link:malformed_great_toe<-myositis_ossificans").kind == "literature"
    seeds = bayesnet.load(folder, literature=False)
    assert ("malformed_great_toe", "myositis_ossificans") in seeds.knowledge.no_effect
    assert ("malformed_great_toe", "myositis_ossificans") not in model.knowledge.no_effect


def test_a_literature_row_needs_a_stored_excerpt_and_a_reason_beside_a_seed_row(small_copy):
    folder = with_literature(small_copy, BESIDE.replace("review2020", "missing2021", 1)
                             .replace("a series replaces the assumed 0.7", ""))
    with pytest.raises(KnowledgeBaseError) as caught:
        bayesnet.load(folder)
    problems = [str(p) for p in caught.value.problems]
    assert any("[source]" in p and "'missing2021' is not an excerpt" in p for p in problems)
    assert any("[note]" in p and "must say in its note why it replaces it" in p for p in problems)


def test_two_literature_rows_for_one_key_are_refused(small_copy):
    folder = with_literature(small_copy, BESIDE + BESIDE)
    with pytest.raises(KnowledgeBaseError, match="already given on line"):
        bayesnet.load(folder)


def test_the_command_line_can_leave_the_literature_out(small_copy, capsys):
    from bayesnet.cli.main import main

    folder = with_literature(small_copy, BESIDE)
    assert main(["--priors", str(folder), "--no-literature", "provenance", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "literature" not in out.split("\n", 1)[1]
    assert main(["--priors", str(folder), "provenance", "--format", "csv"]) == 0
    assert ",literature,review2020," in capsys.readouterr().out
