"""Cohort files: CSV or Parquet, chosen by the file name's ending.

A cohort is one row per case, one column per node, cells the node's state names; an empty CSV
field, or a null Parquet cell, means "not observed". Parquet (``.parquet`` or ``.pq``) needs
``pyarrow``; it stores the cells as dictionary-encoded text, so a million cases of a hundred nodes
read and write in a few seconds, and is read in row batches where memory must stay bounded.
"""
from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from bayesnet.errors import EvidenceError, OutputError

__all__ = ["PARQUET_SUFFIXES", "is_parquet", "read_cohort", "write_cohort", "iter_parquet", "ParquetSink"]

PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: str | Path) -> bool:
    """Whether a file name says Parquet (``.parquet`` or ``.pq``)."""
    return str(path).lower().endswith(PARQUET_SUFFIXES)


def _pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency of the parquet extra
        raise EvidenceError("Parquet files need pyarrow: pip install pyarrow (or read and write CSV)") from None
    return pq


def read_cohort(path: str | Path, *, id_column: str | None = None) -> pd.DataFrame:
    """Read a whole cohort file (CSV or Parquet) as categorical columns, NaN where unobserved.

    CSV cells stay the text of the file: only an empty field means unobserved (``NA`` is not
    special). ``id_column`` becomes the index.
    """
    name = str(path)
    if not os.path.isfile(name):
        raise EvidenceError(f"cannot read the cohort {name}: no such file")
    try:
        if is_parquet(name):
            _pyarrow()
            frame = pd.read_parquet(name)
            frame = frame.astype({c: "category" for c in frame.columns if c != id_column})
        else:
            dtype: defaultdict[str, object] = defaultdict(lambda: "category")
            if id_column is not None:
                dtype[id_column] = str
            frame = pd.read_csv(name, dtype=dtype, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise EvidenceError(f"cannot read {name} as a table of cases: {str(error).strip()}") from None
    except Exception as error:  # pyarrow's own errors (not a Parquet file, a damaged one)
        if type(error).__module__.startswith("pyarrow"):
            raise EvidenceError(f"cannot read {name} as a Parquet table of cases: {error}") from None
        raise
    if id_column is not None:
        if id_column not in frame.columns:
            raise EvidenceError(f"the id column {id_column!r} is not in {name}; its columns: "
                                f"{', '.join(map(str, frame.columns[:20]))}")
        frame = frame.set_index(id_column)
    return frame


def iter_parquet(path: str | Path, chunksize: int) -> Iterator[pd.DataFrame]:
    """A Parquet file's rows, ``chunksize`` at a time, each chunk a DataFrame of categorical columns."""
    pq = _pyarrow()
    try:
        handle = pq.ParquetFile(str(path))
    except Exception as error:
        raise EvidenceError(f"cannot read {path} as a Parquet table of cases: {error}") from None
    with handle:
        for batch in handle.iter_batches(batch_size=int(chunksize)):
            yield pd.DataFrame({name: _categorical(column) for name, column in zip(batch.schema.names, batch.columns)},
                               copy=False)


def _categorical(column) -> pd.Categorical:
    """An Arrow column as a pandas ``Categorical``. Text columns (dictionary-encoded or not) are
    converted from their dictionary codes directly, with one categorical type per distinct
    dictionary (the chunks of a file share them), which is many times faster than going through
    pandas' general conversion; other columns go that way."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(kind) -> bool:
        return pa.types.is_string(kind) or pa.types.is_large_string(kind)

    encoded = (column if pa.types.is_dictionary(column.type)
               else pc.dictionary_encode(column) if text(column.type) else None)
    if encoded is not None and text(encoded.dictionary.type) and not encoded.dictionary.null_count:
        categories = tuple(encoded.dictionary.to_pylist())
        if len(set(categories)) == len(categories):
            # Arrow's dictionary indices lie within the dictionary, so there is nothing to validate
            return pd.Categorical.from_codes(_codes(encoded.indices), dtype=_categories(categories), validate=False)
    return pd.Categorical(column.to_pandas())


def _codes(indices) -> np.ndarray:
    """Dictionary indices as a numpy array, -1 where null, read from the Arrow buffers (Arrow's own
    ``fill_null`` costs far more per call on short chunks)."""
    if indices.null_count == 0:
        return indices.to_numpy()
    size = len(indices) + indices.offset
    validity, data = indices.buffers()[:2]
    values = np.frombuffer(data, dtype=indices.type.to_pandas_dtype(), count=size)[indices.offset:]
    valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), count=size, bitorder="little")[indices.offset:]
    return np.where(valid.astype(bool), values, -1)


@functools.lru_cache(maxsize=4096)
def _categories(categories: tuple[str, ...]) -> pd.CategoricalDtype:
    """One categorical type per dictionary, its categories plain Python strings (read back cheaply)."""
    return pd.CategoricalDtype(pd.Index(list(categories), dtype=object))


def write_cohort(frame: pd.DataFrame, path: str | Path, *, index: bool = True) -> Path:
    """Write a cohort (CSV or Parquet, by the name's ending) through a temporary file that takes
    the name only when complete. Unobserved cells are empty (CSV) or null (Parquet)."""
    target = Path(path)
    if not str(path) or target.is_dir():
        raise OutputError(f"the output must be a file name, got {str(path)!r}")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        if is_parquet(target):
            _pyarrow()
            out = frame.reset_index() if index and frame.index.name else frame
            out.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=index, lineterminator="\n")
        os.replace(temporary, target)
    except OSError as error:
        raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
    finally:
        if temporary.exists():
            temporary.unlink()
    return target


class ParquetSink:
    """A Parquet table written chunk by chunk (the schema of the first chunk), through a temporary file."""

    def __init__(self, name: str):
        self.target = Path(name)
        self.temporary = self.target.with_name(f".{self.target.name}.{os.getpid()}.part")
        self.writer = None
        self.header = True

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        pq = _pyarrow()
        table = pa.Table.from_pandas(frame.reset_index(), preserve_index=False)
        if self.writer is None:
            # dictionary encoding and compression suit the text columns; tried on posteriors (all
            # distinct, full-precision floats) they cost much of the writing time and save nothing
            text = {f.name: not pa.types.is_floating(f.type) for f in table.schema}
            self.writer = pq.ParquetWriter(str(self.temporary), table.schema,
                                           use_dictionary=[name for name, is_text in text.items() if is_text],
                                           compression={name: "snappy" if is_text else "none"
                                                        for name, is_text in text.items()})
        self.writer.write_table(table.cast(self.writer.schema))
        self.header = False

    def commit(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        os.replace(self.temporary, self.target)

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.temporary.exists():
            self.temporary.unlink()


def score_parquet(model, path: str | Path, *, chunksize: int | None = None, on_error: str = "raise",
                  log_evidence: bool = True, id_column: str | None = None):
    """Score a Parquet file of cases chunk by chunk, as :func:`~bayesnet.cohort.scoring.score_csv` scores a CSV file.

    Yields one :class:`~bayesnet.cohort.scoring.CohortScore` per row batch of ``chunksize`` rows
    (default :data:`~bayesnet.cohort.scoring.CHUNKSIZE`), with data-row numbers counted from the
    start of the file (the index is the row number, named ``row``, unless ``id_column`` names a
    column of case identifiers).
    """
    from bayesnet.cohort.readahead import read_ahead
    from bayesnet.cohort.scoring import CHUNKSIZE, score_frame

    chunksize = CHUNKSIZE if chunksize is None else chunksize
    first_row = 1
    for chunk in read_ahead(iter_parquet(path, chunksize)):  # the next batch is decoded while this one is scored
        if id_column is None:
            chunk.index = pd.RangeIndex(first_row, first_row + len(chunk), name="row")
        else:
            if id_column not in chunk.columns:
                raise EvidenceError(f"the id column {id_column!r} is not in {path}; its columns: "
                                    f"{', '.join(map(str, chunk.columns[:20]))}")
            chunk = chunk.set_index(id_column)
        yield score_frame(model, chunk, on_error=on_error, log_evidence=log_evidence, first_row=first_row)
        first_row += len(chunk)


def count_parquet_rows(path: str | Path) -> int | None:
    """The number of rows a Parquet file holds (from its footer), or None if it cannot be read."""
    try:
        pq = _pyarrow()
        return int(pq.ParquetFile(str(path)).metadata.num_rows)
    except Exception:
        return None
