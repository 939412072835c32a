"""Cohort scoring: a DataFrame or a CSV file of cases in, one row of posteriors per case out.

Known answers come from scoring the same rows one by one with ``model.posteriors``.
"""
from __future__ import annotations

import io
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import bayesnet
from bayesnet.cli.main import main
from bayesnet.cohort.scoring import (CohortRowError, UnknownColumnError, encode_frame, frame_codes, score_csv,
                                     score_frame)
from bayesnet.inference.kernel import ANSWERED, DECLINED
from bayesnet.errors import EvidenceError, UnknownNameError
from conftest import DATA, SMALL

IMPOSSIBLE = DATA / "impossible"  # links.csv: myositis_ossificans always shows trabeculated_bone


@pytest.fixture(scope="module")
def impossible_model() -> bayesnet.Model:
    return bayesnet.load(IMPOSSIBLE)


def random_cohort(model: bayesnet.Model, rows: int, seed: int = 0, observed: float = 0.5) -> pd.DataFrame:
    """Random hard evidence on every node (context, conditions, findings), blank where unobserved."""
    rng = np.random.default_rng(seed)
    columns = {}
    for node in [*model.context, *model.conditions, *model.findings]:
        states = np.array(model.states(node), dtype=object)
        cells = states[rng.integers(len(states), size=rows)]
        cells[rng.random(rows) > observed] = None
        columns[node] = cells
    return pd.DataFrame(columns, index=pd.Index([f"case{i}" for i in range(rows)], name="case"))


def one_by_one(model: bayesnet.Model, frame: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for label, row in frame.iterrows():
        answer = model.posteriors({node: value for node, value in row.items() if isinstance(value, str) and value.strip()})
        rows[label] = {**answer["posterior"].to_dict(), "log_evidence": answer.attrs["log_evidence"]}
    return pd.DataFrame.from_dict(rows, orient="index")[[*model.conditions, "log_evidence"]]


# ---------------------------------------------------------------------------- answers
def test_batch_equals_scoring_rows_one_by_one(small_model):
    frame = random_cohort(small_model, 150, seed=1, observed=0.3)
    frame = frame.drop(columns=list(small_model.conditions))  # condition evidence is tested below
    result = small_model.posteriors_batch(frame)
    expected = one_by_one(small_model, frame)
    assert list(result.columns) == [*small_model.conditions, "log_evidence"]
    assert result.index.equals(frame.index)
    np.testing.assert_allclose(result.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    assert result.attrs["errors"].empty
    # not a constant answer: the evidence moves the posteriors
    assert result[list(small_model.conditions)].std().min() > 1e-3


def test_condition_columns_are_evidence_too(small_model):
    frame = pd.DataFrame({"fop": ["present", "absent", None], "neck_involved": ["present"] * 3})
    result = small_model.posteriors_batch(frame)
    assert result.loc[0, "fop"] == 1.0 and result.loc[1, "fop"] == 0.0
    np.testing.assert_allclose(result.to_numpy(), one_by_one(small_model, frame).to_numpy(), rtol=0, atol=1e-12)


def test_every_kind_of_blank_cell_means_unobserved(small_model):
    frame = pd.DataFrame({"age_band": [None, np.nan, "", "   ", pd.NA],
                          "neck_involved": ["present"] * 5}, dtype=object)
    result = small_model.posteriors_batch(frame)
    expected = small_model.posteriors({"neck_involved": "present"})["posterior"]
    for _, row in result.iterrows():
        np.testing.assert_allclose(row[list(small_model.conditions)], expected[list(small_model.conditions)], atol=1e-15)


def test_categorical_and_string_columns_are_read_alike(small_model):
    frame = random_cohort(small_model, 40, seed=2)[list(small_model.findings)]
    as_category = frame.astype("category")
    as_string = frame.astype("string")
    base = small_model.posteriors_batch(frame)
    pd.testing.assert_frame_equal(small_model.posteriors_batch(as_category), base)
    pd.testing.assert_frame_equal(small_model.posteriors_batch(as_string), base)


def test_log_evidence_can_be_left_out_and_empty_frames_score(small_model):
    frame = random_cohort(small_model, 5)[["age_band", "trabeculated_bone"]]
    assert list(small_model.posteriors_batch(frame, log_evidence=False).columns) == list(small_model.conditions)
    empty = small_model.posteriors_batch(frame.iloc[:0])
    assert empty.empty and list(empty.columns) == [*small_model.conditions, "log_evidence"]


# ---------------------------------------------------------------------------- bad input
def test_unknown_column_is_named_with_close_matches(small_model):
    frame = pd.DataFrame({"neck_invloved": ["present"], "age": ["child"], "trauma": ["present"]})
    with pytest.raises(UnknownNameError) as caught:
        small_model.posteriors_batch(frame, on_error="skip")  # a frame-level error whatever on_error says
    message = str(caught.value)
    assert isinstance(caught.value, UnknownColumnError)
    assert message.startswith("unknown column 'neck_invloved'; did you mean 'neck_involved'?")
    assert "also unknown: 'age' (did you mean 'age_band'" in message
    assert "'trauma'" not in message.split("also unknown")[1]


def test_unknown_state_names_row_index_column_and_valid_states(small_model):
    frame = pd.DataFrame({"age_band": ["child", "adlt", "adult"], "neck_involved": ["present", "absent", "yes"]},
                         index=["a", "b", "c"])
    with pytest.raises(CohortRowError) as caught:
        small_model.posteriors_batch(frame)
    message = str(caught.value)
    assert message.splitlines()[0] == "2 rows cannot be scored:"
    assert ("row 2 (index 'b'), column age_band: unknown state 'adlt'; did you mean 'adult'? "
            "valid states: child, adult") in message
    assert "row 3 (index 'c'), column neck_involved: unknown state 'yes'; valid states: absent, present" in message
    assert "on_error='skip'" in message
    assert list(caught.value.errors["row"]) == [2, 3]


def test_one_unknown_state_is_one_line_and_numbers_are_not_states(small_model):
    frame = pd.DataFrame({"trauma": ["present", 1]}, dtype=object)
    with pytest.raises(CohortRowError) as caught:
        small_model.posteriors_batch(frame)
    assert str(caught.value).startswith(
        "row 2 (index 1), column trauma: unknown state 1; valid states: absent, present")


@pytest.mark.parametrize("cell", ["!child", "child,adult"])
def test_a_set_of_states_in_a_cohort_cell_is_named_as_such_without_a_misleading_suggestion(small_model, cell):
    """A query takes a set of states; a cohort cell holds one state. '!child' must not be answered
    with "did you mean 'child'?", which says the opposite."""
    frame = pd.DataFrame({"age_band": ["adult", cell]})
    with pytest.raises(CohortRowError) as caught:
        small_model.posteriors_batch(frame)
    message = str(caught.value)
    assert f"row 2 (index 1), column age_band: '{cell}' is a set of states; a cohort cell holds one state" in message
    assert "did you mean" not in message


def test_impossible_evidence_names_the_row_and_the_evidence(impossible_model):
    frame = pd.DataFrame({"age_band": ["adult", "child", None],
                          "myositis_ossificans": ["present", "present", "present"],
                          "trabeculated_bone": ["present", "absent", None]}, index=[10, 20, 30])
    with pytest.raises(CohortRowError) as caught:
        impossible_model.posteriors_batch(frame)
    assert str(caught.value).splitlines()[0] == (
        "row 2 (index 20): the evidence is impossible under the model (probability zero): "
        "myositis_ossificans=present, trabeculated_bone=absent cannot all hold together")
    errors = caught.value.errors
    assert errors.index.tolist() == [20]
    assert errors.iloc[0][["row", "column", "value"]].tolist() == [
        2, "myositis_ossificans, trabeculated_bone", "present, absent"]


def test_skip_mode_reports_every_skipped_row(impossible_model):
    frame = pd.DataFrame({"age_band": ["adult", "adlt", "child", None, "teen"],
                          "myositis_ossificans": ["present", None, "present", "absent", "maybe"],
                          "trabeculated_bone": ["present", "absent", "absent", None, None]},
                         index=list("abcde"))
    scores = score_frame(impossible_model, frame, on_error="skip")
    assert scores.posteriors.index.tolist() == ["a", "d"]
    assert scores.skipped == 3
    errors = scores.errors
    assert errors.index.tolist() == ["b", "c", "e", "e"]          # one line per problem, in row order
    assert errors["row"].tolist() == [2, 3, 5, 5]
    assert errors["column"].tolist() == ["age_band", "myositis_ossificans, trabeculated_bone", "age_band",
                                         "myositis_ossificans"]
    assert errors["value"].tolist() == ["adlt", "present, absent", "teen", "maybe"]
    assert "impossible" in errors["message"].iloc[1]
    # the rows kept are scored exactly as on their own
    kept = impossible_model.posteriors_batch(frame.loc[["a", "d"]])
    pd.testing.assert_frame_equal(scores.posteriors, kept)
    # the model method carries the same report
    result = impossible_model.posteriors_batch(frame, on_error="skip")
    pd.testing.assert_frame_equal(result.attrs["errors"], errors)


def test_many_bad_rows_are_summarised(small_model):
    frame = pd.DataFrame({"trauma": ["yes"] * 25})
    with pytest.raises(CohortRowError) as caught:
        small_model.posteriors_batch(frame)
    lines = str(caught.value).splitlines()
    assert lines[0] == "25 rows cannot be scored:"
    assert lines[-2] == "  ... and 15 more rows" and len(lines) == 13
    assert len(caught.value.errors) == 25


@pytest.mark.parametrize("frame, fragment", [
    ({"trauma": ["present"]}, "a cohort must be a pandas DataFrame, got dict"),
    (pd.DataFrame([["present", "absent"]], columns=["trauma", "trauma"]), "given twice: trauma"),
])
def test_malformed_cohorts_say_what_was_expected(small_model, frame, fragment):
    with pytest.raises(EvidenceError, match=fragment):
        small_model.posteriors_batch(frame)


def test_on_error_must_be_raise_or_skip(small_model):
    with pytest.raises(EvidenceError, match="on_error must be one of 'raise', 'skip', got 'ignore'"):
        small_model.posteriors_batch(pd.DataFrame({"trauma": ["present"]}), on_error="ignore")


def test_row_errors_survive_pickling(small_model):
    with pytest.raises(CohortRowError) as caught:
        small_model.posteriors_batch(pd.DataFrame({"trauma": ["yes"]}))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)
    pd.testing.assert_frame_equal(copy.errors, caught.value.errors)
    unknown = pickle.loads(pickle.dumps(UnknownColumnError(["age_bnd"], ["age_band"])))
    assert str(unknown).startswith("unknown column 'age_bnd'; did you mean 'age_band'?")


# ---------------------------------------------------------------------------- CSV streaming
def test_csv_chunks_equal_the_whole_frame(small_model, tmp_path):
    frame = random_cohort(small_model, 53, seed=3).drop(columns=list(small_model.conditions))
    path = tmp_path / "cases.csv"
    frame.to_csv(path, index=False)
    chunks = list(score_csv(small_model, path, chunksize=10))
    assert [len(c.posteriors) for c in chunks] == [10, 10, 10, 10, 10, 3]
    streamed = pd.concat([c.posteriors for c in chunks])
    assert streamed.index.tolist() == list(range(1, 54)) and streamed.index.name == "row"
    whole = small_model.posteriors_batch(frame.reset_index(drop=True))
    np.testing.assert_array_equal(streamed.to_numpy(), whole.to_numpy())


def test_parquet_chunks_equal_the_whole_frame_whatever_the_column_encoding(small_model, tmp_path):
    """Dictionary-encoded text (as pandas writes categoricals), plain text and a column of one null
    type are read alike, chunk by chunk, and score as the whole frame does."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from bayesnet.cohort.files import score_parquet

    frame = random_cohort(small_model, 53, seed=4).drop(columns=list(small_model.conditions))
    frame.iloc[:, 0] = None                                          # a column with nothing observed
    arrays = {}
    for i, (name, column) in enumerate(frame.items()):
        text = [v if isinstance(v, str) else None for v in column]
        cells = pa.array(text, type=pa.string()) if any(text) else pa.nulls(len(text))
        arrays[name] = cells.dictionary_encode() if i % 2 else cells
    path = tmp_path / "cases.parquet"
    pq.write_table(pa.table(arrays), path, row_group_size=20)
    chunks = list(score_parquet(small_model, path, chunksize=10))
    assert [len(c.posteriors) for c in chunks] == [10, 10, 10, 10, 10, 3]
    streamed = pd.concat([c.posteriors for c in chunks])
    whole = small_model.posteriors_batch(frame.reset_index(drop=True))
    np.testing.assert_array_equal(streamed.to_numpy(), whole.to_numpy())


def test_a_parquet_cell_that_is_not_a_state_is_named(small_model, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from bayesnet.cohort.files import score_parquet

    finding = small_model.findings[0]
    path = tmp_path / "cases.parquet"
    pq.write_table(pa.table({finding: pa.array(["present", "maybe", None]).dictionary_encode()}), path)
    with pytest.raises(CohortRowError, match=r"row 2.*maybe"):
        list(score_parquet(small_model, path, chunksize=2))


def test_csv_row_numbers_count_from_the_start_of_the_file(small_model):
    text = "trauma,age_band\npresent,child\n" + "absent,adult\n" * 12 + "absent,adlt\n"
    chunks = score_csv(small_model, io.StringIO(text), chunksize=5, on_error="skip")
    errors = pd.concat([c.errors for c in chunks])
    assert errors["row"].tolist() == [14]
    assert errors["message"].iloc[0].startswith("row 14, column age_band: unknown state 'adlt'")


def test_csv_only_an_empty_field_is_unobserved(small_model):
    text = "trauma\nNA\n"
    with pytest.raises(CohortRowError, match="row 1, column trauma: unknown state 'NA'"):
        list(score_csv(small_model, io.StringIO(text)))


def test_csv_id_column_and_its_absence(small_model):
    text = "id,trauma\nx1,present\nx2,\n"
    scores = list(score_csv(small_model, io.StringIO(text), id_column="id"))[0].posteriors
    assert scores.index.tolist() == ["x1", "x2"] and scores.index.name == "id"
    with pytest.raises(UnknownColumnError, match=r"unknown column 'id'.*named with id_column \(--id\)"):
        list(score_csv(small_model, io.StringIO(text)))


# ---------------------------------------------------------------------------- the command line
def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def test_score_round_trips_through_csv(small_model, tmp_path, capsys):
    frame = random_cohort(small_model, 31, seed=4)
    cases, output = tmp_path / "cases.csv", tmp_path / "posteriors.csv"
    frame.to_csv(cases)
    code, out, err = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(output),
                         "--id", "case", "--chunksize", "4")
    assert code == 0 and out == ""
    assert err == f"bayesnet: scored 31 cases into {output} with the {small_model.knowledge_base}\n"
    written = pd.read_csv(output, index_col="case")
    expected = small_model.posteriors_batch(frame)
    assert list(written.columns) == list(expected.columns)
    np.testing.assert_array_equal(written.to_numpy(), expected.to_numpy())  # floats written in full
    assert written.index.tolist() == expected.index.tolist()


def test_score_fails_on_a_bad_row_with_one_message_and_no_output(tmp_path, capsys):
    cases, output = tmp_path / "cases.csv", tmp_path / "posteriors.csv"
    cases.write_text("age_band,myositis_ossificans,trabeculated_bone\nadult,present,present\n"
                     "child,present,absent\n", encoding="utf-8")
    code, out, err = run(capsys, "--priors", str(IMPOSSIBLE), "score", str(cases), "-o", str(output))
    assert code == 2 and out == ""
    assert err.startswith("bayesnet: error: row 2: the evidence is impossible under the model (probability zero): "
                          "myositis_ossificans=present, trabeculated_bone=absent cannot all hold together\n")
    assert "--on-error skip" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv"]  # no partial output left behind


def test_score_skips_and_writes_the_errors_file(tmp_path, capsys, small_model):
    cases, output, errors = tmp_path / "cases.csv", tmp_path / "out.csv", tmp_path / "errors.csv"
    cases.write_text("trauma,age_band\npresent,child\nyes,adult\nabsent,\n,adlt\n", encoding="utf-8")
    code, _, err = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(output),
                       "--on-error", "skip", "--errors", str(errors), "--chunksize", "2")
    assert code == 0
    assert err.splitlines() == [f"bayesnet: scored 2 cases into {output} with the {small_model.knowledge_base}",
                                f"bayesnet: skipped 2 cases that could not be scored; their problems are in {errors}"]
    assert pd.read_csv(output)["row"].tolist() == [1, 3]
    report = pd.read_csv(errors)
    assert list(report.columns) == ["row", "column", "value", "message"]
    assert report[["row", "column", "value"]].values.tolist() == [[2, "trauma", "yes"], [4, "age_band", "adlt"]]


def test_score_skip_without_errors_file_lists_the_problems(tmp_path, capsys):
    cases, output = tmp_path / "cases.csv", tmp_path / "out.csv"
    cases.write_text("trauma\nyes\npresent\n", encoding="utf-8")
    code, _, err = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(output), "--on-error", "skip")
    assert code == 0
    assert err.splitlines()[1:] == ["bayesnet: skipped 1 case that could not be scored:",
                                    "  row 1, column trauma: unknown state 'yes'; valid states: absent, present "
                                    "(leave the cell empty if not observed)"]


@pytest.mark.parametrize("argv, message", [
    (["--chunksize", "0"], "argument --chunksize: expected a positive whole number, got '0'"),
    (["--id", "ident"], "the id column 'ident' is not in the header of"),
    (["--on-error", "ignore"], "argument --on-error: invalid choice: 'ignore'"),
])
def test_score_bad_arguments_exit_2(tmp_path, capsys, argv, message):
    cases = tmp_path / "cases.csv"
    cases.write_text("id,trauma\nx,present\n", encoding="utf-8")
    code, _, err = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(tmp_path / "o.csv"), *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_score_unreadable_and_unknown_columns_exit_2(tmp_path, capsys):
    empty, cases = tmp_path / "empty.csv", tmp_path / "cases.csv"
    empty.write_text("", encoding="utf-8")
    code, _, err = run(capsys, "--priors", str(SMALL), "score", str(empty), "-o", str(tmp_path / "o.csv"))
    assert code == 2 and err.startswith(f"bayesnet: error: cannot read {empty} as a CSV table of cases")
    cases.write_text("trauma,neck\npresent,present\n", encoding="utf-8")
    code, _, err = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(tmp_path / "o.csv"))
    assert code == 2 and err.startswith("bayesnet: error: unknown column 'neck'; did you mean 'neck_involved'?")


def test_score_header_only_writes_a_header(tmp_path, capsys):
    cases, output = tmp_path / "cases.csv", tmp_path / "out.csv"
    cases.write_text("trauma\n", encoding="utf-8")
    code, _, _ = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(output))
    assert code == 0
    assert output.read_text().splitlines() == ["row,myositis_ossificans,fop,calcinosis,log_evidence"]


def test_score_progress_bar_goes_to_stderr_when_asked(tmp_path, capsys):
    cases, output = tmp_path / "cases.csv", tmp_path / "out.csv"
    cases.write_text("trauma\npresent\nabsent\n", encoding="utf-8")
    code, out, err = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", "-", "--progress")
    assert code == 0 and "scoring" in err and "2/2" in err
    assert out.splitlines()[0] == "row,myositis_ossificans,fop,calcinosis,log_evidence" and len(out.splitlines()) == 3
    code, _, err = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(output))
    assert "scoring" not in err  # not a terminal and not asked: no bar


def test_score_in_a_real_process_exits_2_without_traceback(tmp_path):
    cases = tmp_path / "cases.csv"
    cases.write_text("trauma\nyes\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bayesnet", "--priors", str(SMALL), "score", str(cases),
                           "-o", str(tmp_path / "o.csv")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("bayesnet: error: row 1, column trauma: unknown state 'yes'")


def test_batch_equals_one_by_one_on_the_shipped_network(model):
    rng = np.random.default_rng(5)
    rows = 40
    columns = {k: np.where(rng.random(rows) < 0.7, np.array(model.states(k), dtype=object)[
        rng.integers(len(model.states(k)), size=rows)], None) for k in model.context}
    for f in model.findings:
        observed = rng.random(rows) < 0.15
        states = np.array(model.states(f), dtype=object)
        positive = states[1:][rng.integers(len(states) - 1, size=rows)]     # any state above the lowest
        columns[f] = np.where(observed, np.where(rng.random(rows) < 0.25, positive, states[0]), None)
    frame = pd.DataFrame(columns)
    result = model.posteriors_batch(frame, on_error="skip")
    assert len(result) >= rows - 3       # a row whose presenting findings are all absent is impossible
    frame = frame.loc[result.index]
    expected = one_by_one(model, frame)
    np.testing.assert_allclose(result.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-9)


def test_the_codes_fill_the_likelihoods_that_single_queries_use(model):
    """A cohort's cells are kept as state codes and each case's likelihoods filled in the kernel: they
    equal what ``model.encode`` builds for the same evidence, population row included."""
    rng = np.random.default_rng(11)
    rows = 60
    columns = {}
    for node in [*model.context, *model.conditions, *model.findings]:
        states = np.array(model.states(node), dtype=object)
        columns[node] = np.where(rng.random(rows) < 0.2, states[rng.integers(len(states), size=rows)], None)
    columns["mineral_soft_tissue"][:20] = None                 # both presenting findings open: the population row
    columns["mineral_lung"][:20] = None
    frame = pd.DataFrame(columns)
    batch = encode_frame(model, frame).batch
    for i, (_, row) in enumerate(frame.iterrows()):
        alone = model.encode({k: v for k, v in row.items() if isinstance(v, str)})
        assert np.array_equal(batch.findings[i], alone.findings)
        assert np.array_equal(batch.conditions[i], alone.conditions)
        assert all(np.array_equal(b[i], a) for b, a in zip(batch.context, alone.context))


def test_cases_the_kernel_declines_are_split_and_answered_exactly_in_a_batch(model):
    """28 positive findings open more slots than the kernel holds: the batch splits that row over the
    conditions that open the most slots, as a single query does, beside an ordinary row."""
    heavy = {f: model.states(f)[-1] for f in [f for f in model.findings if f != "mineral_lung"][:28]}
    heavy |= {k: model.states(k)[0] for k in model.context} | {"age_band": "young_adult"}
    light = {"mineral_soft_tissue": "present", "trauma": "present"}
    frame = pd.DataFrame([heavy, light])
    coded = frame_codes(model, frame)
    status, _, _ = model.engine._kernel.coded_rows(coded.codes, coded.table)
    assert status.tolist() == [DECLINED, ANSWERED]
    result = model.posteriors_batch(frame)
    np.testing.assert_allclose(result.to_numpy(), one_by_one(model, frame).to_numpy(), rtol=0, atol=1e-9)
