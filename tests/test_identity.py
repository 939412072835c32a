"""Which knowledge base answered: version and content hash in every output, and the rows that differ."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import bayesnet
from bayesnet.cli import main
from bayesnet.errors import KnowledgeBaseError
from bayesnet.knowledge.identity import diff_folders, identify, read_identified
from bayesnet.knowledge import load_knowledge
from conftest import SMALL

SHIPPED = bayesnet.default_priors_path()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def expected_hash(folder: Path) -> str:
    """The content hash as priors/README.md defines it, computed here independently."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.csv")):
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


@pytest.fixture()
def shipped_copy(tmp_path: Path) -> Path:
    target = tmp_path / "priors"
    shutil.copytree(SHIPPED, target)
    return target


# ---------------------------------------------------------------------------- the identity itself
def test_the_shipped_knowledge_base_has_a_version_and_the_documented_hash(model):
    identity = model.knowledge_base
    assert identity.version == (SHIPPED / "VERSION").read_text().strip() and identity.version != "unversioned"
    assert identity.sha256 == expected_hash(SHIPPED)
    assert str(identity) == f"knowledge base version {identity.version}, sha256 {identity.sha256[:12]}"


def test_a_folder_without_a_version_file_is_unversioned(small_model):
    assert small_model.knowledge_base.version == "unversioned"
    assert small_model.knowledge_base.sha256 == expected_hash(SMALL)


@pytest.mark.parametrize("text", ["", "\n", "1.0\x07\n", "é".encode("latin-1")])
def test_a_version_file_must_hold_a_printable_first_line(small_copy, text):
    version = small_copy / "VERSION"
    version.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(KnowledgeBaseError, match="VERSION:1: "):
        bayesnet.load(small_copy)


def test_every_row_change_changes_the_hash(small_copy):
    before = identify(small_copy).sha256
    risks = small_copy / "risk_factors.csv"
    lines = risks.read_text().splitlines(keepends=True)
    risks.write_text("".join(lines[:-1]))  # one row deleted
    after = identify(small_copy).sha256
    assert after != before and after == expected_hash(small_copy)
    (small_copy / "notes.txt").write_text("not a table")  # not a CSV file: not part of the hash
    assert identify(small_copy).sha256 == after


def test_a_folder_changed_while_it_is_read_is_refused(small_copy):
    def read_and_edit(folder: Path):
        knowledge = load_knowledge(folder)
        (folder / "links.csv").write_text((folder / "links.csv").read_text() + "\n")
        return knowledge

    with pytest.raises(KnowledgeBaseError, match="the files changed while they were being read"):
        read_identified(small_copy, read_and_edit)


# ---------------------------------------------------------------------------- every output names it
def test_posteriors_and_batches_carry_the_knowledge_base(small_model):
    expected = {"version": "unversioned", "sha256": expected_hash(SMALL), "path": str(SMALL)}
    assert small_model.posteriors({"trauma": "present"}).attrs["knowledge_base"] == expected
    assert small_model.posteriors_batch(pd.DataFrame({"trauma": ["present"]})).attrs["knowledge_base"] == expected


@pytest.mark.parametrize("argv", [["query", "--json", "trauma=present"],
                                  ["explain", "--json", "trauma=present", "peripheral_rim=present"],
                                  ["explain", "--json", "peripheral_rim=present", "--condition", "fop"],
                                  ["next", "--json", "trauma=present"]])
def test_json_outputs_name_the_knowledge_base(capsys, small_model, argv):
    code, out, _ = run(capsys, "--priors", str(SMALL), *argv)
    assert code == 0
    assert json.loads(out)["knowledge_base"] == small_model.knowledge_base.as_dict()


def test_score_names_the_knowledge_base_in_its_summary_and_metadata(capsys, tmp_path, small_model):
    cases, output, metadata = tmp_path / "cases.csv", tmp_path / "out.csv", tmp_path / "run.json"
    cases.write_text("trauma\npresent\nyes\n", encoding="utf-8")
    code, _, err = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(output), "--on-error", "skip",
                       "--metadata", str(metadata))
    assert code == 0
    assert err.splitlines()[0] == f"bayesnet: scored 1 case into {output} with the {small_model.knowledge_base}"
    record = json.loads(metadata.read_text())
    assert record["knowledge_base"] == small_model.knowledge_base.as_dict()
    assert (record["cases"], record["output"], record["scored"], record["skipped"]) == (str(cases), str(output), 1, 1)
    assert record["bayesnet"] == bayesnet.__version__ and record["on_error"] == "skip"


def test_a_failed_score_writes_no_metadata(capsys, tmp_path):
    cases, metadata = tmp_path / "cases.csv", tmp_path / "run.json"
    cases.write_text("trauma\nyes\n", encoding="utf-8")
    code, _, _ = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(tmp_path / "out.csv"),
                     "--metadata", str(metadata))
    assert code == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv"]


# ---------------------------------------------------------------------------- differences from the shipped one
def test_provenance_of_the_shipped_folder_names_it_and_finds_no_difference(capsys, model):
    code, out, err = run(capsys, "provenance", "--diff")
    assert code == 0
    assert out.splitlines() == ["file,row,change,line,shipped_line,field,shipped,loaded"]
    assert err == f"bayesnet: {model.knowledge_base} in {SHIPPED}\n"


def test_deleted_and_changed_rows_are_listed_with_their_lines(capsys, shipped_copy):
    risks = shipped_copy / "risk_factors.csv"
    rows = list(csv.reader(io.StringIO(risks.read_text(encoding="utf-8"), newline="")))
    # two rows whose key has no other row (a literature row beside a seed row shares its key)
    keys = [tuple(row[:3]) for row in rows]
    first, second = [i for i in range(1, len(rows)) if keys.count(keys[i]) == 1][:2]
    removed, changed = rows[second], rows[first]
    changed_value, new_value = changed[3], changed[5]  # the value moved to the top of its range
    assert new_value != changed_value
    rows[first] = [*changed[:3], new_value, *changed[4:]]
    del rows[second]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    risks.write_text(buffer.getvalue(), encoding="utf-8")

    code, out, err = run(capsys, "--priors", str(shipped_copy), "provenance", "--diff")
    assert code == 0
    table = pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False)
    assert table[["file", "change", "field"]].values.tolist() == [["risk_factors.csv", "changed", "value"],
                                                                  ["risk_factors.csv", "removed", ""]]
    assert table["row"].tolist() == [f"condition={changed[0]} context={changed[1]} state={changed[2]}",
                                     f"condition={removed[0]} context={removed[1]} state={removed[2]}"]
    assert table[["shipped", "loaded"]].values.tolist()[0] == [changed_value, new_value]
    assert table["shipped_line"].tolist() == [str(first + 1), str(second + 1)]
    assert table["line"].tolist() == [str(first + 1), ""]
    assert "differs from the shipped knowledge base in 2 rows of risk_factors.csv" in err
    assert bayesnet.load(shipped_copy).knowledge_base.sha256 != expected_hash(SHIPPED)


def test_deleting_every_risk_factor_is_visible(capsys, shipped_copy):
    risks = shipped_copy / "risk_factors.csv"
    header, *rows = risks.read_text(encoding="utf-8").splitlines()
    risks.write_text(header + "\n", encoding="utf-8")
    code, _, err = run(capsys, "--priors", str(shipped_copy), "provenance", "-o", str(shipped_copy.parent / "p.csv"))
    assert code == 0
    changes = diff_folders(shipped_copy, SHIPPED)
    assert {c.change for c in changes} == {"removed"} and len(changes) == len(rows)
    assert f"differs from the shipped knowledge base in {len(rows)} rows of risk_factors.csv" in err


def test_an_added_file_and_a_renamed_key_are_differences(shipped_copy):
    (shipped_copy / "extra.csv").write_text("a,b\n1,2\n")
    links = shipped_copy / "links.csv"
    text = links.read_text(encoding="utf-8")
    first = text.splitlines()[1].split(",")
    links.write_text(text.replace(f"{first[0]},{first[1]},", f"{first[0]},fop_typo,", 1), encoding="utf-8")
    changes = [(c.file, c.change) for c in diff_folders(shipped_copy, SHIPPED)]
    assert changes == [("extra.csv", "file added"), ("links.csv", "removed"), ("links.csv", "added")]
