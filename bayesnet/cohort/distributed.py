"""Cohort scoring on a Dask DataFrame, for cohorts larger than memory or spread over a cluster.

Each partition is scored by :func:`bayesnet.cohort.scoring.score_frame` (``map_partitions``), so the
answers equal pandas scoring row for row. Dask is an optional dependency, imported only here and
only when used: ``pip install "bayesnet[dask]"``.

>>> import dask.dataframe as dd                                   # doctest: +SKIP
>>> cases = dd.read_csv("cohort-*.csv", dtype=str, keep_default_na=False, na_values=[""])
>>> scores = score_dask(model, cases, on_error="skip")
>>> posteriors, errors = dask.compute(scores.posteriors, scores.errors)

Rows are named in reports by their partition (0-based, as Dask numbers them), their 1-based row
number within that partition, and their index label: give the frame an index of case identifiers
for reports that need no lookup.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from bayesnet.cohort.scoring import ON_ERROR, Model, OnError, _check_columns, empty_errors, empty_scores, score_frame
from bayesnet.errors import BayesnetError, EvidenceError

__all__ = ["DaskScore", "score_dask", "require_dask", "DaskNotInstalledError"]

_ERROR_FLAG = "__bayesnet_error__"


class DaskNotInstalledError(BayesnetError, ImportError):
    """Dask scoring was asked for but dask is not installed."""


def require_dask() -> Any:
    """Import and return ``dask.dataframe``, or say how to install it."""
    try:
        import dask.dataframe as dd
    except ImportError as error:
        raise DaskNotInstalledError(
            f"scoring a Dask DataFrame needs dask, which is not installed ({error}); "
            "install it with: pip install \"bayesnet[dask]\"") from None
    return dd


@dataclass(frozen=True, eq=False)
class DaskScore:
    """Lazy results of :func:`score_dask`.

    Attributes
    ----------
    posteriors
        A Dask DataFrame with the input's index and partitions: one row per scored case, one column
        per condition, then ``log_evidence`` (as :attr:`bayesnet.cohort.scoring.CohortScore.posteriors`).
    errors
        A Dask DataFrame of the skipped rows' problems, indexed by their index labels, with columns
        ``partition``, ``row`` (1-based within the partition), ``column``, ``value``, ``message``.

    Both come from one scoring of each partition: compute them together
    (``dask.compute(result.posteriors, result.errors)``) so that each partition is scored once.
    """

    posteriors: Any
    errors: Any


def _combined_meta(model: Model, index: pd.Index, log_evidence: bool) -> pd.DataFrame:
    scores = empty_scores(model, index, log_evidence)
    errors = empty_errors(index)
    frame = pd.concat([scores, errors.assign(partition=pd.Series([], dtype="int64"))], axis=1)
    frame = frame.astype({"partition": "Int64", "row": "Int64"})  # NaN on the rows of posteriors
    frame[_ERROR_FLAG] = pd.Series([], dtype=bool)
    return frame[[*scores.columns, "partition", "row", "column", "value", "message", _ERROR_FLAG]]


def _score_partition(part: pd.DataFrame, model: Model, on_error: OnError, log_evidence: bool,
                     meta: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
    number = 0 if partition_info is None else int(partition_info["number"])
    # one thread per task: Dask already runs partitions in parallel
    scores = score_frame(model, part, on_error=on_error, log_evidence=log_evidence, workers=1,
                         _where=f"partition {number}, ")
    posteriors = scores.posteriors.assign(**{_ERROR_FLAG: False})
    errors = scores.errors.assign(partition=number, **{_ERROR_FLAG: True})
    frame = pd.concat([posteriors, errors]) if len(errors) else posteriors
    return frame.reindex(columns=meta.columns).astype(meta.dtypes.to_dict())


def score_dask(model: Model, frame: Any, *, on_error: OnError = "raise", log_evidence: bool = True) -> DaskScore:
    """Score a Dask DataFrame of cases partition by partition (lazily).

    Parameters
    ----------
    model
        The diagnostic model; it is sent to the workers once per task graph.
    frame
        A ``dask.dataframe.DataFrame``: one row per case, columns are node names, cells are state
        names or empty (read CSV files with ``dtype=str, keep_default_na=False, na_values=[""]``).
    on_error, log_evidence
        As for :func:`bayesnet.cohort.scoring.score_frame`. With ``"raise"``, a bad row raises
        :class:`~bayesnet.cohort.scoring.CohortRowError` when the result is computed.

    Returns
    -------
    DaskScore
        Lazy ``posteriors`` and ``errors``; nothing is computed yet.

    Raises
    ------
    DaskNotInstalledError
        If dask is not installed.
    UnknownColumnError
        A column that is not a node (checked at once, on the frame's columns).
    """
    dd = require_dask()
    if not isinstance(frame, dd.DataFrame):
        raise EvidenceError(f"score_dask needs a dask DataFrame, got {type(frame).__name__}; "
                            "for a pandas DataFrame use model.posteriors_batch")
    if on_error not in ON_ERROR:
        raise EvidenceError(f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, got {on_error!r}")
    _check_columns(model, pd.DataFrame(columns=list(frame.columns)))
    meta = _combined_meta(model, pd.Index([], dtype=frame.index.dtype, name=frame.index.name), log_evidence)
    combined = frame.map_partitions(_score_partition, model, on_error, log_evidence, meta, meta=meta,
                                    align_dataframes=False)
    flag = combined[_ERROR_FLAG]
    score_columns = list(empty_scores(model, log_evidence=log_evidence).columns)
    posteriors = combined[~flag][score_columns]
    errors = combined[flag][["partition", "row", "column", "value", "message"]].astype({"partition": "int64",
                                                                                        "row": "int64"})
    return DaskScore(posteriors, errors)
