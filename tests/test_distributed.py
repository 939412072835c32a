"""Cohort scoring on Dask: on a local cluster, over several partitions, equal to pandas scoring."""
from __future__ import annotations

import builtins
import sys

import numpy as np
import pandas as pd
import pytest

import bayesnet
from bayesnet.cohort.scoring import CohortRowError, UnknownColumnError, score_frame
from bayesnet.cohort.distributed import DaskNotInstalledError, require_dask, score_dask
from bayesnet.errors import EvidenceError
from conftest import DATA

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

IMPOSSIBLE = DATA / "impossible"


@pytest.fixture(scope="module")
def impossible_model() -> bayesnet.Model:
    return bayesnet.load(IMPOSSIBLE)


@pytest.fixture(scope="module")
def client():
    """A local cluster of two workers (threads: quick to start and reliable on a small machine)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


def cohort(model: bayesnet.Model, rows: int, seed: int = 0, bad: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {}
    for node in [*model.context, *model.conditions, *model.findings]:
        states = np.array([*model.states(node), None, None], dtype=object)
        cells = states[rng.integers(len(states), size=rows)]
        cells[rng.random(rows) < bad] = "unknown"
        columns[node] = cells
    return pd.DataFrame(columns, index=pd.Index([f"c{i:04d}" for i in range(rows)], name="case"))


def same_frame(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal values, columns and index labels (Dask may store string labels in its own string dtype)."""
    pd.testing.assert_frame_equal(got, expected, check_index_type=False)
    assert got.index.tolist() == expected.index.tolist()


def test_dask_scoring_equals_pandas_scoring_on_a_local_cluster(client, small_model):
    frame = cohort(small_model, 400, seed=1).drop(columns=list(small_model.conditions))
    cases = dd.from_pandas(frame, npartitions=5)
    assert cases.npartitions > 1  # the cohort is larger than one partition
    result = score_dask(small_model, cases)
    assert result.posteriors.npartitions == cases.npartitions
    posteriors, errors = dask.compute(result.posteriors, result.errors)
    expected = small_model.posteriors_batch(frame)
    same_frame(posteriors, expected)
    assert errors.empty


def test_dask_skip_mode_reports_rows_by_partition(client, impossible_model):
    frame = cohort(impossible_model, 300, seed=2, bad=0.01)
    cases = dd.from_pandas(frame, npartitions=3)
    result = score_dask(impossible_model, cases, on_error="skip")
    posteriors, errors = dask.compute(result.posteriors, result.errors)
    expected = score_frame(impossible_model, frame, on_error="skip")
    same_frame(posteriors, expected.posteriors)
    # the same problems, numbered within their partition
    assert len(errors) == len(expected.errors) > 0
    assert errors.index.tolist() == expected.errors.index.tolist()
    assert errors["column"].tolist() == expected.errors["column"].tolist()
    sizes = cases.map_partitions(len).compute().tolist()
    starts = np.cumsum([0, *sizes[:-1]])
    assert (starts[errors["partition"]] + errors["row"]).tolist() == expected.errors["row"].tolist()
    assert any("impossible" in m for m in errors["message"])
    first = errors.iloc[0]
    assert first["message"].startswith(f"partition {first['partition']}, row {first['row']} (index '{errors.index[0]}')")
    assert len(posteriors) + errors.index.nunique() == len(frame)


def test_dask_raise_mode_raises_the_row_error_on_compute(client, small_model):
    frame = pd.DataFrame({"trauma": ["present"] * 6 + ["yes"]}, index=range(7))
    cases = dd.from_pandas(frame, npartitions=2)
    result = score_dask(small_model, cases)  # lazy: nothing is scored yet
    with pytest.raises(CohortRowError, match=r"partition 1, row \d \(index 6\), column trauma: unknown state 'yes'"):
        result.posteriors.compute()


def test_dask_checks_columns_at_once(small_model):
    cases = dd.from_pandas(pd.DataFrame({"traumaa": ["present"]}), npartitions=1)
    with pytest.raises(UnknownColumnError, match="unknown column 'traumaa'; did you mean 'trauma'?"):
        score_dask(small_model, cases)
    with pytest.raises(EvidenceError, match="needs a dask DataFrame, got DataFrame"):
        score_dask(small_model, pd.DataFrame({"trauma": ["present"]}))
    with pytest.raises(EvidenceError, match="on_error must be one of"):
        score_dask(small_model, cases, on_error="drop")


def test_missing_dask_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name == "dask" or name.startswith("dask."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for name in [m for m in sys.modules if m == "dask" or m.startswith("dask.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(DaskNotInstalledError, match=r'pip install "bayesnet\[dask\]"'):
        require_dask()


def test_the_core_package_does_not_import_dask():
    import subprocess

    code = "import sys, bayesnet, bayesnet.cohort.scoring, bayesnet.cli; print(any(m.startswith('dask') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.slow
def test_dask_scoring_on_worker_processes(small_model):
    """The model travels to worker processes by pickling (slow: starting processes takes seconds)."""
    frame = cohort(small_model, 200, seed=3).drop(columns=list(small_model.conditions))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        posteriors = score_dask(small_model, dd.from_pandas(frame, npartitions=4)).posteriors.compute()
    same_frame(posteriors, small_model.posteriors_batch(frame))
