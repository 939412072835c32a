"""A fuzz harness of our own, built on Hypothesis: hostile input of every kind the package takes.

Five families, each a strategy and a property:

* **evidence** mappings given to ``model.posteriors`` (the small knowledge base), and to the engine
  on random small networks (some with probabilities within 1e-9 of 0 and 1): any keys and any
  values (states, near-miss names, likelihood vectors with subnormal, tiny, huge, negative, NaN
  or infinite entries, huge integers, mappings, arrays, nested lists, objects);
* **cohort** frames given to ``posteriors_batch`` with ``on_error`` raise and skip: any columns,
  any index, cells of any type (lists, dicts, sets, arrays, numbers, blanks of every kind);
* **command lines**: the ``bayesnet`` command with random subcommands, options, evidence,
  case files of random bytes, and output names (empty, a directory, /dev/full, a missing folder);
* **knowledge-base files**: the small knowledge base with rows deleted, duplicated or swapped,
  fields replaced, bytes inserted, files truncated, re-encoded, emptied or removed.

Properties: only the package's own exceptions (:class:`bayesnet.BayesnetError`) escape the library,
and the command line exits 0 or 2 without a traceback and leaves no temporary file; every posterior
is in [0, 1] and equals exact enumeration in rational arithmetic (``tests/bruteforce.py``) on the
evidence as given (unscaled); evidence is called impossible exactly when its probability is zero;
batch rows equal single queries and no row is lost (each is scored or reported).

The default suite runs a short, derandomized profile of each family (the same examples every run);
``python -m pytest -m slow tests/test_fuzz.py --hypothesis-show-statistics`` runs the long one.
"""
from __future__ import annotations

import atexit
import contextlib
import csv
import io
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from fractions import Fraction
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayesnet
from bayesnet.cli import main
from bayesnet.cohort import score_csv, score_frame
from bayesnet.inference.engine import ExactEngine
from bayesnet.errors import BayesnetError, ImpossibleEvidenceError, KnowledgeBaseError
from bayesnet.inference.evidence import encode_evidence
from bayesnet.knowledge.identity import diff_folders, identify
from bruteforce import exact, random_network
from conftest import SMALL

#: posteriors must equal exact enumeration to this (absolute), log P(evidence) to this relative
TOLERANCE = 1e-12
COMMON = dict(deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def short(examples: int):
    """The default suite's profile: few examples, the same ones every run."""
    return settings(max_examples=examples, derandomize=True, **COMMON)


def long(examples: int):
    """The slow profile: many random examples."""
    def apply(test):
        return pytest.mark.slow(settings(max_examples=examples, **COMMON)(test))
    return apply


@cache
def small_model() -> bayesnet.Model:
    return bayesnet.load(SMALL)


# ---------------------------------------------------------------------------- values of every kind
SPECIAL_FLOATS = [0.0, -0.0, 5e-324, 1e-320, 2.2250738585072014e-308, 2.2250738585072014e-308 / 3, 1e-300, 1e-200,
                  1e-100, 1e-20, 1e-9, 0.5, 1.0, 1 - 1e-16, 1e20, 1e100, 1e300, 1.7976931348623157e308]
numbers = st.one_of(
    st.floats(min_value=0.0, max_value=1.0),
    st.sampled_from(SPECIAL_FLOATS),
    st.floats(min_value=0.0, allow_infinity=False, allow_nan=False),
    st.floats(),                                                      # negative, NaN and infinite too
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.booleans(),
    st.sampled_from(["0.5", "1", "x", "", "nan"]),
)
junk = st.one_of(st.text(max_size=12), st.binary(max_size=6), st.integers(), st.complex_numbers(),
                 st.builds(object), st.sets(st.integers(), max_size=2), st.just(float("nan")), st.none(),
                 st.lists(st.lists(numbers, max_size=2), max_size=2))


def evidence_values(states: tuple[str, ...]):
    """Anything a node could be given, weighted towards what is almost right."""
    k = len(states)
    vectors = st.lists(numbers, min_size=k, max_size=k)
    return st.one_of(
        st.sampled_from(states),
        st.sampled_from(states).map(lambda s: s.upper() if len(s) % 2 else f" {s}"),
        vectors, vectors, vectors.map(tuple), vectors.map(lambda v: np.array(v, dtype=object)),
        st.lists(numbers, max_size=k + 2),
        st.fixed_dictionaries({s: numbers for s in states}),
        st.dictionaries(st.one_of(st.sampled_from(states), st.text(max_size=4)), numbers, max_size=k + 1),
        junk,
    )


def node_names(model) -> list[str]:
    return [*model.context, *model.conditions, *model.findings]


def states_of(model, node: str) -> tuple[str, ...]:
    return model.states(node) if node in model._specs else ("absent", "present")


@st.composite
def evidence_for(draw, names: list[str], states) -> dict:
    keys = draw(st.lists(st.one_of(st.sampled_from(names), st.sampled_from(names), st.sampled_from(names),
                                   st.text(max_size=8), st.integers()), max_size=6, unique=True))
    return {key: draw(evidence_values(states(key) if key in names else ("absent", "present"))) for key in keys}


def likelihoods(names_states: Mapping[str, tuple[str, ...]], evidence: Mapping) -> dict[str, list]:
    """The evidence as one likelihood per state, unscaled, for the exact reference (valid evidence only)."""
    out = {}
    for node, value in evidence.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        states = names_states[node]
        if isinstance(value, str):
            out[node] = [int(s == value) for s in states]
        elif isinstance(value, Mapping):
            out[node] = [value[s] for s in states]
        else:
            out[node] = list(value)
    return out


def assert_exact(network, given: dict[str, list], log_evidence: float, posterior: np.ndarray) -> None:
    """The answer equals exact enumeration: posteriors, and log P(evidence) (each vector scaled to a
    largest entry of 1), to TOLERANCE."""
    total, reference = exact(network, given)
    assert total > 0, "answered, but the evidence has probability zero"
    assert np.all(np.isfinite(posterior)) and np.all((posterior >= 0) & (posterior <= 1)), posterior
    np.testing.assert_allclose(posterior, [float(p) for p in reference], rtol=0, atol=TOLERANCE)
    scale = sum(_log(max(Fraction(float(x)) for x in vector)) for vector in given.values())
    expected = _log(total) - scale
    assert abs(log_evidence - expected) <= TOLERANCE * max(1.0, abs(expected)), (log_evidence, expected)


def _log(x: Fraction) -> float:
    return math.log(x.numerator) - math.log(x.denominator)


# ---------------------------------------------------------------------------- family 1: evidence
def check_model_evidence(evidence: dict) -> None:
    model = small_model()
    try:
        frame = model.posteriors(evidence)
    except ImpossibleEvidenceError:
        table = {n: model.states(n) for n in node_names(model)}
        assert exact(model.network, likelihoods(table, evidence))[0] == 0, "called impossible, but possible"
        return
    except BayesnetError:
        return
    table = {n: model.states(n) for n in node_names(model)}
    posterior = frame["posterior"][list(model.conditions)].to_numpy()
    assert_exact(model.network, likelihoods(table, evidence), frame.attrs["log_evidence"], posterior)
    assert frame.attrs["knowledge_base"]["sha256"] == model.knowledge_base.sha256


model_evidence = evidence_for(node_names(small_model()), lambda node: states_of(small_model(), node))


@short(120)
@given(model_evidence)
def test_fuzz_evidence(evidence):
    check_model_evidence(evidence)


@long(30_000)
@given(model_evidence)
def test_fuzz_evidence_long(evidence):
    check_model_evidence(evidence)


@cache
def random_engine(seed: int, extreme: bool, n: int, m: int) -> ExactEngine:
    return ExactEngine(random_network(np.random.default_rng(seed), n, m, extreme=extreme))


@st.composite
def network_evidence(draw):
    engine = random_engine(draw(st.integers(0, 63)), draw(st.booleans()), draw(st.integers(2, 5)),
                           draw(st.integers(2, 6)))
    net = engine.network
    names = [*net.context, *net.conditions, *net.findings]
    table = {**dict(zip(net.context, map(tuple, net.context_states))),
             **{c: ("absent", "present") for c in [*net.conditions, *net.findings]}}
    return engine, table, draw(evidence_for(names, lambda node: table[node]))


def check_network_evidence(case) -> None:
    engine, table, evidence = case
    try:
        encoded = encode_evidence(engine.network, evidence)
    except BayesnetError:
        return
    answer = engine.query(encoded)
    if not np.isfinite(answer.log_evidence):
        assert exact(engine.network, likelihoods(table, evidence))[0] == 0, "called impossible, but possible"
        return
    assert_exact(engine.network, likelihoods(table, evidence), answer.log_evidence, answer.posterior)


@short(60)
@given(network_evidence())
def test_fuzz_evidence_on_random_networks(case):
    check_network_evidence(case)


@long(20_000)
@given(network_evidence())
def test_fuzz_evidence_on_random_networks_long(case):
    check_network_evidence(case)


@cache
def shipped_model() -> bayesnet.Model:
    return bayesnet.load()


shipped_evidence = st.deferred(lambda: evidence_for(node_names(shipped_model()),
                                                    lambda node: states_of(shipped_model(), node)))


def check_shipped_evidence(evidence: dict) -> None:
    """On the shipped network (too large to enumerate): only the package's errors, posteriors in [0, 1],
    and the same answer for every vector scaled by a power of two."""
    model = shipped_model()
    try:
        frame = model.posteriors(evidence)
    except BayesnetError:
        return
    posterior = frame["posterior"].to_numpy()
    assert np.all(np.isfinite(posterior)) and np.all((posterior >= 0) & (posterior <= 1)), posterior
    scaled = {node: [float(x) * 2.0 ** -900 for x in value] if isinstance(value, list) else value
              for node, value in evidence.items()}
    try:
        again = model.posteriors(scaled)["posterior"]
    except BayesnetError:  # a scaled entry fell below the normal range: refused, not misanswered
        return
    np.testing.assert_allclose(again[frame.index].to_numpy(), posterior, rtol=0, atol=1e-13)


@short(40)
@given(shipped_evidence)
def test_fuzz_evidence_on_the_shipped_network(evidence):
    check_shipped_evidence(evidence)


@long(10_000)
@given(shipped_evidence)
def test_fuzz_evidence_on_the_shipped_network_long(evidence):
    check_shipped_evidence(evidence)


# ---------------------------------------------------------------------------- family 2: cohort frames
BLANKS = [None, float("nan"), "", "   ", pd.NA, np.nan]


def cells(states: tuple[str, ...]):
    return st.one_of(st.sampled_from(states), st.sampled_from(states), st.sampled_from(states),
                     st.sampled_from(BLANKS), st.sampled_from(states).map(str.upper), st.text(max_size=6),
                     st.integers(0, 2), st.floats(), st.booleans(), st.lists(st.sampled_from(states), max_size=2),
                     st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
                     st.sets(st.integers(), max_size=1), st.sampled_from(states).map(lambda s: np.array([s])))


@st.composite
def cohorts(draw):
    model = small_model()
    names = node_names(model)
    columns = draw(st.lists(st.sampled_from(names), max_size=6, unique=True))
    if draw(st.integers(0, 19)) == 0:  # now and then a column that is not a node, or one given twice
        columns.append(draw(st.one_of(st.text(max_size=6), st.sampled_from(columns or names))))
    rows = draw(st.integers(0, 12))
    data = [[draw(cells(states_of(model, c))) for c in columns] for _ in range(rows)]
    index = draw(st.one_of(st.just(None), st.lists(st.integers(-3, 3), min_size=rows, max_size=rows),
                           st.lists(st.text(max_size=3), min_size=rows, max_size=rows)))
    frame = pd.DataFrame(data, columns=columns, index=index, dtype=object)
    if draw(st.booleans()):  # columns of categories, as a CSV reader may give them (where the cells allow it)
        with contextlib.suppress(TypeError):
            frame = frame.astype("category")
    return frame, draw(st.sampled_from(["raise", "skip"]))


def _blank(cell) -> bool:
    if isinstance(cell, str):
        return not cell.strip()
    return cell is None or (pd.api.types.is_scalar(cell) and bool(pd.isna(cell)))


def check_cohort(case) -> None:
    frame, on_error = case
    model = small_model()
    try:
        scores = score_frame(model, frame, on_error=on_error)
    except BayesnetError:
        assert on_error == "raise" or not frame.columns.is_unique or not all(c in node_names(model)
                                                                              for c in frame.columns)
        return
    result, errors = scores.posteriors, scores.errors
    bad = set(errors["row"] - 1)
    good = [p for p in range(len(frame)) if p not in bad]
    assert len(result) == len(good), "a row was lost or scored twice"  # no row lost: scored or reported
    assert errors["row"].between(1, len(frame)).all()
    if on_error == "raise":
        assert not bad
    for position, (_, row) in zip(good, result.iterrows()):
        evidence = {c: v for c, v in frame.iloc[position].items() if not _blank(v)}
        single = model.posteriors(evidence)
        np.testing.assert_array_equal(row[list(model.conditions)].to_numpy(float),
                                      single["posterior"][list(model.conditions)].to_numpy())
        assert row["log_evidence"] == single.attrs["log_evidence"]
    for position in bad:  # a row reported bad is bad alone too (when its cells are text: hard evidence)
        cells_ = {c: v for c, v in frame.iloc[position].items() if not _blank(v)}
        if all(isinstance(v, str) for v in cells_.values()):
            with pytest.raises(BayesnetError):
                model.posteriors(cells_)


@short(40)
@given(cohorts())
def test_fuzz_cohort_frames(case):
    check_cohort(case)


@long(12_000)
@given(cohorts())
def test_fuzz_cohort_frames_long(case):
    check_cohort(case)


def file_cells(states: tuple[str, ...]):
    return st.one_of(st.sampled_from(states), st.sampled_from(states), st.sampled_from(states), st.sampled_from(states),
                     st.sampled_from(["", " ", "NA", "1", "1.0", "True", "nan", f'"{states[0]}"', states[0].upper()]),
                     # a bare \r ends a line for every CSV reader, but csv.writer leaves it unquoted after \n lines
                     st.text(max_size=6).map(lambda text: text.replace("\r", "\n")))


@st.composite
def case_files(draw):
    """A CSV file of cases as text (csv.writer's quoting), with its rows, for score_csv."""
    model = small_model()
    columns = draw(st.lists(st.sampled_from(node_names(model)), min_size=1, max_size=5, unique=True))
    with_id = draw(st.booleans())
    rows = [[*([f"id{r}"] if with_id else []), *(draw(file_cells(states_of(model, c))) for c in columns)]
            for r in range(draw(st.integers(0, 15)))]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow([*(["case_id"] if with_id else []), *columns])
    lines = []
    for row in rows:
        start = buffer.tell()
        writer.writerow(row)
        lines.append(buffer.getvalue()[start:])
    text = buffer.getvalue()
    if draw(st.booleans()):
        text += "\n"  # a blank line at the end
    return text, columns, rows, lines, with_id, draw(st.integers(1, 5)), draw(st.sampled_from(["raise", "skip"]))


def check_case_file(case) -> None:
    text, columns, rows, lines, with_id, chunksize, on_error = case
    model = small_model()
    kept = [row for row, line in zip(rows, lines) if line.strip()]  # a line of blanks is no case (as for pandas)
    try:
        chunks = list(score_csv(model, io.StringIO(text), chunksize=chunksize, on_error=on_error,
                                id_column="case_id" if with_id else None))
    except BayesnetError:
        assert on_error == "raise", text
        assert any(not all(v in states_of(model, c) for c, v in zip(columns, row[1:] if with_id else row)
                           if v.strip()) for row in kept), "a file of valid cases was refused"
        return
    scored = pd.concat([c.posteriors for c in chunks]) if chunks else pd.DataFrame()
    errors = pd.concat([c.errors for c in chunks]) if chunks else pd.DataFrame({"row": []})
    bad = set(errors["row"])
    assert len(scored) + len(bad) == len(kept), "a row was lost or scored twice"
    good = [row for number, row in enumerate(kept, start=1) if number not in bad]
    for (_, answer), row in zip(scored.iterrows(), good):
        cells = row[1:] if with_id else row
        evidence = {c: v for c, v in zip(columns, cells) if v.strip()}
        single = model.posteriors(evidence)
        np.testing.assert_array_equal(answer[list(model.conditions)].to_numpy(float),
                                      single["posterior"][list(model.conditions)].to_numpy())
    for number in bad:
        cells = kept[number - 1][1:] if with_id else kept[number - 1]
        with pytest.raises(BayesnetError):
            model.posteriors({c: v for c, v in zip(columns, cells) if v.strip()})


@short(40)
@given(case_files())
def test_fuzz_case_files(case):
    check_case_file(case)


@long(10_000)
@given(case_files())
def test_fuzz_case_files_long(case):
    check_case_file(case)


# ---------------------------------------------------------------------------- family 3: command lines
@cache
def workspace() -> Path:
    """A folder for the command line's files: valid cases, a directory, a file that is not CSV."""
    folder = Path(tempfile.mkdtemp(prefix="bayesnet-fuzz-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "cases.csv").write_text("case_id,trauma,age_band,peripheral_rim\na,present,child,\nb,absent,,present\n"
                                      "c,yes,adult,absent\n", encoding="utf-8")
    (folder / "folder").mkdir()
    (folder / "binary.csv").write_bytes(b"\xff\xfe\x00t\x00r\x00")
    return folder


def evidence_tokens(model):
    names = node_names(model)
    return st.one_of(
        st.tuples(st.sampled_from(names), st.sampled_from(["present", "absent", "child", "adult", "x", ""]))
        .map("=".join),
        st.tuples(st.sampled_from(names), st.lists(st.sampled_from(["0", "0.2", "1", "5e-324", "1e308", "1e999", "-1",
                                                                    "nan", "x", ""]), max_size=3).map(",".join))
        .map("=".join),
        st.text(max_size=10),
    )


def path_tokens():
    return st.sampled_from(["out.csv", "", ".", "folder", "/dev/null", "/dev/full", "missing/out.csv", "-",
                            "errors.csv", "cases.csv", "meta.json"])


@st.composite
def command_lines(draw):
    model = small_model()
    argv: list[str] = []
    if draw(st.integers(0, 9)):
        argv += ["--priors", str(SMALL)]
    else:
        argv += ["--priors", draw(st.sampled_from(["missing", "cases.csv", "folder", ""]))]
    command = draw(st.sampled_from(["query", "query", "score", "score", "score", "nodes", "provenance", "explain",
                                    "next", "frobnicate"]))
    argv.append(command)
    options = {
        "query": st.sampled_from([["--json"], ["--top", "2"], ["--top", "x"], ["--top", "-1"]]),
        "score": st.one_of(st.tuples(st.sampled_from(["-o", "--errors", "--metadata"]), path_tokens()).map(list),
                           st.sampled_from([["--on-error", "skip"], ["--on-error", "x"], ["--id", "case_id"],
                                            ["--id", "nope"], ["--chunksize", "1"], ["--chunksize", "0"],
                                            ["--no-log-evidence"], ["--progress"], ["--no-progress"]])),
        "nodes": st.sampled_from([["--json"], ["--type", "finding"], ["--type", "x"]]),
        "provenance": st.one_of(st.sampled_from([["--diff"], ["--format", "json"], ["--format", "x"]]),
                                st.tuples(st.just("-o"), path_tokens()).map(list)),
        "explain": st.sampled_from([["--json"], ["--condition", "fop"], ["--condition", "x"], ["--top", "2"],
                                    ["--order", "trauma"]]),
        "next": st.sampled_from([["--json"], ["--top", "3"], ["--conditions", "fop"], ["--conditions", "x"]]),
    }.get(command, st.just(["--help"]))
    for option in draw(st.lists(options, max_size=3)):
        argv += option
    if command == "score":
        argv.insert(argv.index("score") + 1, draw(st.sampled_from(["cases.csv", "cases.csv", "missing.csv", "folder",
                                                                   "binary.csv", "random.csv", "/dev/null"])))
        if "-o" not in argv:
            argv += ["-o", draw(path_tokens())]
    elif command in ("query", "explain", "next"):
        argv += draw(st.lists(evidence_tokens(model), max_size=4))
    return argv, draw(st.binary(max_size=200))


def check_command_line(case) -> None:
    argv, random_bytes = case
    folder = workspace()
    (folder / "random.csv").write_bytes(random_bytes)
    for leftover in ("out.csv", "errors.csv", "meta.json"):
        (folder / leftover).unlink(missing_ok=True)
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as stop:  # argparse: --help, or a usage error
                code = stop.code
    finally:
        os.chdir(cwd)
    message = err.getvalue()
    assert code in (0, 2), (argv, code, message)
    assert "Traceback" not in message, (argv, message)
    if code == 2:
        assert re.search(r"^(bayesnet( \w+)?: error: |usage: bayesnet)", message, re.M), (argv, message)
    assert not [p for p in folder.iterdir() if p.name.endswith(".partial")], argv
    assert [p.name for p in (folder / "folder").iterdir()] == []


@short(60)
@given(command_lines())
def test_fuzz_command_lines(case):
    check_command_line(case)


@long(10_000)
@given(command_lines())
def test_fuzz_command_lines_long(case):
    check_command_line(case)


# ---------------------------------------------------------------------------- family 4: knowledge-base files
KB_FILES = sorted(p.name for p in SMALL.iterdir())
FIELD_VALUES = ["", "0", "1", "0.5", "-0.1", "1.5", "nan", "inf", "1e999", "1e-320", "\u00b2", "x" * 300, "fop",
                "age_band", "child", "present", "absent|present", "verbal", "assumed", "reported", "usually", "yes",
                "5", "3", '"', "a,b", "é"]


@st.composite
def mutation(draw):
    kind = draw(st.sampled_from(["delete", "duplicate", "swap", "field", "field", "field", "bytes", "truncate",
                                 "encode", "bom", "empty", "remove", "column", "version"]))
    return (kind, draw(st.sampled_from([*KB_FILES, "VERSION"])), draw(st.integers(0, 10_000)),
            draw(st.integers(0, 10_000)), draw(st.one_of(st.sampled_from(FIELD_VALUES), st.text(max_size=8))),
            draw(st.binary(min_size=1, max_size=4)))


def mutate(folder: Path, change) -> None:
    kind, name, a, b, value, raw = change
    path = folder / name
    data = path.read_bytes() if path.exists() else b""
    lines = data.split(b"\n")
    if kind == "delete" and len(lines) > 1:
        del lines[1 + a % (len(lines) - 1)]
    elif kind == "duplicate" and lines:
        lines.insert(a % len(lines), lines[b % len(lines)])
    elif kind == "swap" and len(lines) > 2:
        i, j = 1 + a % (len(lines) - 1), 1 + b % (len(lines) - 1)
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "field" and lines:
        line = lines[a % len(lines)].split(b",")
        line[b % len(line)] = value.encode("utf-8")
        lines[a % len(lines)] = b",".join(line)
    elif kind == "column" and lines:
        lines[0] += b",extra"
    if kind in ("delete", "duplicate", "swap", "field", "column"):
        data = b"\n".join(lines)
    elif kind == "bytes":
        data = data[:a % (len(data) + 1)] + raw + data[a % (len(data) + 1):]
    elif kind == "truncate":
        data = data[:a % (len(data) + 1)]
    elif kind == "encode":
        data = data.decode("utf-8", errors="replace").encode("utf-16" if a % 2 else "latin-1", errors="replace")
    elif kind == "bom":
        data = b"\xef\xbb\xbf" + data
    elif kind == "empty":
        data = b""
    elif kind == "version":
        data = value.encode("utf-8") + raw
    if kind == "remove":
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(data)


@st.composite
def knowledge_bases(draw):
    return draw(st.lists(mutation(), min_size=1, max_size=3)), draw(evidence_for(
        node_names(small_model()), lambda node: states_of(small_model(), node)).filter(lambda e: len(e) <= 3))


def check_knowledge_base(case) -> None:
    changes, evidence = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "priors"
        shutil.copytree(SMALL, folder)
        for change in changes:
            mutate(folder, change)
        identity = identify(folder) if (folder / "VERSION").exists() is False else None
        if identity is not None:
            same = all((folder / n).read_bytes() == (SMALL / n).read_bytes() for n in KB_FILES
                       if (folder / n).exists()) and all((folder / n).exists() for n in KB_FILES)
            assert (identity.sha256 == small_model().knowledge_base.sha256) == same
        diff_folders(folder, SMALL)  # never fails, whatever the files hold
        try:
            model = bayesnet.load(folder)
        except KnowledgeBaseError:
            return
        table = {n: model.states(n) for n in node_names(model)}
        try:
            frame = model.posteriors({k: v for k, v in evidence.items() if k in table})
        except ImpossibleEvidenceError:
            assert exact(model.network, likelihoods(table, evidence))[0] == 0
            return
        except BayesnetError:
            return
        posterior = frame["posterior"][list(model.conditions)].to_numpy()
        assert_exact(model.network, likelihoods(table, {k: v for k, v in evidence.items() if k in table}),
                     frame.attrs["log_evidence"], posterior)


@short(40)
@given(knowledge_bases())
def test_fuzz_knowledge_base_files(case):
    check_knowledge_base(case)


@long(10_000)
@given(knowledge_bases())
def test_fuzz_knowledge_base_files_long(case):
    check_knowledge_base(case)
