"""Fitting a model to a cohort given as a pandas DataFrame, a Dask DataFrame or a file."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bayesnet.cohort.files import read_cohort
from bayesnet.cohort.scoring import encode_frame
from bayesnet.errors import EvidenceError
from bayesnet.inference.evidence import EvidenceBatch
from bayesnet.knowledge.network import NoisyOrNetwork
from bayesnet.learning.fitting import MAX_ITERATIONS, TOLERANCE, EStep, FitResult, fit_network
from bayesnet.learning.statistics import Statistics

__all__ = ["fit_cohort", "encode_cohort", "dask_statistics", "pandas_statistics", "CHUNK"]

#: rows encoded as one batch
CHUNK = 50_000


def encode_cohort(model, frame: pd.DataFrame, chunksize: int = CHUNK) -> tuple[list[EvidenceBatch], list[pd.Index]]:
    """The cohort's rows as evidence batches (``chunksize`` rows each) and their index labels.

    Raises :class:`~bayesnet.errors.EvidenceError` naming the cells that are not states of their node.
    """
    batches, labels = [], []
    for start in range(0, len(frame), chunksize):
        chunk = frame.iloc[start:start + chunksize]
        encoded = encode_frame(model, chunk, first_row=start + 1)
        if len(encoded.errors):
            messages = encoded.errors["message"].tolist()
            more = f"\n  ... and {len(messages) - 5} more" if len(messages) > 5 else ""
            raise EvidenceError(f"{len(messages)} cell(s) of the cohort are not states of their node:\n  "
                                + "\n  ".join(messages[:5]) + more)
        batches.append(encoded.batch)
        labels.append(chunk.index)
    return batches, labels


def _is_dask(frame: object) -> bool:
    return type(frame).__module__.startswith("dask")


def pandas_statistics(model, network: NoisyOrNetwork, frame: pd.DataFrame) -> Statistics:
    """The E-step's statistics of one pandas frame of cases under ``network`` (a Dask partition's task)."""
    batches, labels = encode_cohort(model, frame)
    return EStep(batches, labels)(network)


def dask_statistics(model, network: NoisyOrNetwork, frame) -> Statistics:
    """The E-step on a Dask DataFrame: each partition's statistics computed where it lives, then summed."""
    import dask

    structure = _Structure.of(model)
    parts = [dask.delayed(pandas_statistics)(structure, network, part) for part in frame.to_delayed()]
    results = dask.compute(*parts)
    total = Statistics.zeros(network)
    for stats in results:
        total = total + stats
    return total


class _Structure:
    """What encoding a frame needs of a model (its node names and network), small enough to ship to workers."""

    def __init__(self, network: NoisyOrNetwork, context, conditions, findings):
        self.network, self.context, self.conditions, self.findings = network, context, conditions, findings

    @classmethod
    def of(cls, model) -> _Structure:
        return cls(model.network, tuple(model.context), tuple(model.conditions), tuple(model.findings))


def fit_cohort(model, cohort, *, max_iterations: int = MAX_ITERATIONS, tolerance: float = TOLERANCE,
               id_column: str | None = None, progress: Callable[[int, float], None] | None = None,
               accelerate: bool = True, intervals: str = "observed") -> FitResult:
    """Fit ``model``'s numbers to ``cohort`` (a pandas or Dask DataFrame, or a CSV or Parquet file).

    See :mod:`bayesnet.learning.fitting` for the method. Returns a
    :class:`~bayesnet.learning.fitting.FitResult` whose ``name`` is the cohort's file name (or ``cohort``).
    """
    name = "cohort"
    if isinstance(cohort, (str, Path)):
        name = Path(cohort).name
        cohort = read_cohort(cohort, id_column=id_column)
    if _is_dask(cohort):
        cases = int(cohort.shape[0].compute())

        def estep(network: NoisyOrNetwork) -> Statistics:
            return dask_statistics(model, network, cohort)
    elif isinstance(cohort, pd.DataFrame):
        cases = len(cohort)
        batches, labels = encode_cohort(model, cohort)
        estep = EStep(batches, labels)
    else:
        raise EvidenceError(f"a cohort must be a pandas or Dask DataFrame or a file name, got {type(cohort).__name__}")
    result = fit_network(model.knowledge, model.network, model.locations, estep, cases,
                         max_iterations=max_iterations, tolerance=tolerance, progress=progress,
                         accelerate=accelerate, intervals=intervals)
    result.name = name
    result.knowledge = model.knowledge
    return result
