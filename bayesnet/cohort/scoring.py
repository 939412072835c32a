"""Score a cohort: a table of cases in, one row of posteriors per case out.

A cohort is a pandas DataFrame with one row per case. Its columns are node names (context, condition
or finding nodes, in any order and any subset); each cell is a state name of its column's node, and an
empty cell (``NaN``, ``None``, ``""`` or blanks) means the node is not observed. Cells hold hard
evidence only: soft evidence is for :meth:`bayesnet.Model.posteriors`.

The whole frame is encoded at once: each column's cells become state indices (through a pandas
``Categorical``; see :mod:`bayesnet.inference.coded`), and the engine answers the cases from those
codes with :meth:`~bayesnet.inference.engine.ExactEngine.query_coded`, filling each case's
likelihoods just before answering it. :func:`encode_frame` gives the same cases as likelihood
arrays. The answer for a row equals the answer for the same evidence given to
:meth:`bayesnet.Model.posteriors` alone.

Bad input
---------
* A column that is not a node: :class:`UnknownColumnError`, naming every such column with close
  matches. This concerns the whole frame, so it is raised whatever ``on_error`` says.
* A cell that is not a state of its node, or a row whose evidence is impossible under the model
  (probability zero): a *row error*. With ``on_error="raise"`` (the default) a :class:`CohortRowError`
  lists the bad rows; with ``on_error="skip"`` the other rows are scored and every skipped row is
  reported in :attr:`CohortScore.errors`: nothing is dropped silently.

Rows are named by their 1-based position among the data rows (``row``; for a CSV file with a header
line, data row ``n`` is line ``n + 1``) and by their index label.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

import numpy as np
import pandas as pd

from bayesnet.cohort.csvguard import GuardedCSV
from bayesnet.errors import EvidenceError, ImpossibleEvidenceError, UnknownNameError, shown, suggest
from bayesnet.inference.engine import ExactEngine
from bayesnet.inference.coded import BLANK, CodeTable, code_table, fill_rows
from bayesnet.inference.evidence import EncodedEvidence, Evidence, EvidenceBatch, is_state_set
from bayesnet.knowledge.network import NoisyOrNetwork



class Model(Protocol):
    """What scoring needs of a model (:class:`bayesnet.Model` is one). Cohort scoring depends on this
    protocol, not on the model module, which calls it: the dependency runs one way."""

    context: tuple[str, ...]
    conditions: tuple[str, ...]
    findings: tuple[str, ...]
    network: NoisyOrNetwork
    engine: ExactEngine

    def encode(self, evidence: Evidence | None) -> EncodedEvidence: ...

    def impossible_error(self, encoded: EncodedEvidence) -> ImpossibleEvidenceError: ...

__all__ = [
    "OnError",
    "ON_ERROR",
    "ERROR_COLUMNS",
    "CohortScore",
    "CohortRowError",
    "UnknownColumnError",
    "encode_frame",
    "score_frame",
    "score_csv",
    "CHUNKSIZE",
    "empty_scores",
    "empty_errors",
]

OnError = Literal["raise", "skip"]
ON_ERROR: tuple[str, ...] = ("raise", "skip")
#: the columns of :attr:`CohortScore.errors` (its index holds the bad rows' index labels)
ERROR_COLUMNS: tuple[str, ...] = ("row", "column", "value", "message")
#: how many bad rows a :class:`CohortRowError` message lists before summarising the rest
LISTED_ROWS = 10
LOG_EVIDENCE = "log_evidence"
#: rows of a file read and scored at a time by default: a chunk's fixed costs (reading a Parquet row
#: batch, coding its columns, starting the threads) then weigh little, and memory stays about half a
#: gigabyte for a hundred columns
CHUNKSIZE = 100_000


class UnknownColumnError(UnknownNameError):
    """Columns of a cohort that are not nodes of the model; the message suggests close matches."""

    def __init__(self, names: list[str], valid: list[str], hint: str = ""):
        super().__init__("column", names[0], valid)
        self.names = tuple(names)
        message = self.args[0]
        if len(names) > 1:
            others = []
            for name in names[1:LISTED_ROWS]:
                close = suggest(name, valid)
                others.append(shown(name) + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""))
            if len(names) > LISTED_ROWS:
                others.append(f"and {len(names) - LISTED_ROWS} more")
            message += "; also unknown: " + ", ".join(others)
        message += ". Every column must be a node of the model (see 'bayesnet nodes')" + hint
        self.args = (message,)

    def __reduce__(self):
        return (_rebuild, (type(self), self.args, self.__dict__))


class CohortRowError(EvidenceError):
    """Rows of a cohort that cannot be scored: unknown states or impossible evidence.

    Attributes
    ----------
    errors
        One row per problem, indexed by the bad rows' index labels, with the columns of
        :data:`ERROR_COLUMNS`.
    """

    def __init__(self, message: str, errors: pd.DataFrame | None = None):
        super().__init__(message)
        self.errors = empty_errors() if errors is None else errors

    def __reduce__(self):  # keeps the report when the error crosses a process boundary
        return (type(self), (self.args[0], self.errors))


def _rebuild(cls, args, state):
    error = Exception.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


@dataclass(frozen=True, eq=False)
class CohortScore:
    """The result of scoring a cohort.

    Attributes
    ----------
    posteriors
        One row per scored case, with the input's index (in input order): P(condition present |
        the row's evidence) per condition (columns in the model's condition order), and
        ``log_evidence``, the natural log of P(the row's evidence), unless left out.
    errors
        One row per problem found in a skipped case, indexed by the case's index label, with
        columns ``row`` (1-based data-row number), ``column`` (the node or nodes responsible),
        ``value`` (what the cell or cells held) and ``message``. Empty when every case was scored.
    """

    posteriors: pd.DataFrame
    errors: pd.DataFrame

    @property
    def skipped(self) -> int:
        """The number of cases that were not scored."""
        return int(self.errors["row"].nunique())


@dataclass(frozen=True, eq=False)
class EncodedFrame:
    """A cohort encoded for the engine: the batch of valid rows and the problems of the others."""

    batch: EvidenceBatch
    valid: np.ndarray
    errors: pd.DataFrame


def empty_errors(index: pd.Index | None = None) -> pd.DataFrame:
    """An empty errors frame with the columns and dtypes of :attr:`CohortScore.errors`."""
    index = pd.RangeIndex(0) if index is None else index[:0]
    return pd.DataFrame({"row": pd.Series([], dtype="int64"), "column": pd.Series([], dtype=object),
                         "value": pd.Series([], dtype=object), "message": pd.Series([], dtype=object)},
                        index=index)


def empty_scores(model: Model, index: pd.Index | None = None, log_evidence: bool = True) -> pd.DataFrame:
    """An empty posteriors frame with the columns and dtypes :func:`score_frame` returns."""
    columns = [*model.conditions, *([LOG_EVIDENCE] if log_evidence else [])]
    index = pd.RangeIndex(0) if index is None else index[:0]
    return pd.DataFrame({c: pd.Series([], dtype="float64") for c in columns}, index=index)


def _row_name(row: int, label: object, where: str) -> str:
    if isinstance(label, np.generic):
        label = label.item()
    name = f"{where}row {row}"
    if not (isinstance(label, (int, np.integer)) and not isinstance(label, bool) and int(label) == row):
        name += f" (index {label!r})"
    return name


def _check_columns(model: Model, frame: pd.DataFrame) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise EvidenceError(f"a cohort must be a pandas DataFrame, got {type(frame).__name__}")
    names = [*model.context, *model.conditions, *model.findings]
    known = set(names)
    columns = list(frame.columns)
    unknown = [str(c) for c in columns if not (isinstance(c, str) and c in known)]
    if unknown:
        raise UnknownColumnError(unknown, names)
    duplicated = sorted(c for c, count in Counter(columns).items() if count > 1)
    if duplicated:
        raise EvidenceError(f"each column of a cohort must name a different node; given twice: {', '.join(duplicated)}")


def _state_codes(values: pd.Series, states: tuple[str, ...]) -> np.ndarray:
    """Each cell's state index, ``BLANK`` where empty, -1 where not a state of the node.

    The column is factorised once (free if it is a pandas ``Categorical``); only its few distinct
    values are then compared with the node's states. A column holding unhashable cells (lists,
    dicts, arrays) is compared cell by cell.
    """
    position = {state: i for i, state in enumerate(states)}
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, distinct = values.array.codes, values.array.categories.tolist()
    else:
        try:
            codes, distinct = pd.factorize(values, use_na_sentinel=True)
        except (TypeError, ValueError):  # unhashable cells
            return np.array([_code(c, position) for c in values.tolist()], dtype=np.int64)
        distinct = list(distinct)
    lookup = [_code(c, position) for c in distinct]
    return np.array([*lookup, BLANK], dtype=np.int16)[codes]  # code -1 (missing) -> BLANK


def _code(cell: object, position: dict[str, int]) -> int:
    if isinstance(cell, str):
        return position.get(cell, BLANK if not cell.strip() else -1)
    return BLANK if _is_blank(cell) else -1


def _is_blank(value: object) -> bool:
    """An empty cell: blanks, ``None`` or a missing-value scalar (never a list or an array)."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


@dataclass(frozen=True)
class _Problem:
    position: int
    column: str
    value: str
    message: str


@dataclass(frozen=True, eq=False)
class FrameCodes:
    """A cohort's cells as state codes: ``codes`` ``(C, N)`` (a state's index, negative where empty)
    for the columns of ``table``, ``valid`` marking the rows whose cells are all states of their
    nodes, and the problems of the others."""

    table: CodeTable
    codes: np.ndarray
    valid: np.ndarray
    problems: list[_Problem]


def frame_codes(model: Model, frame: pd.DataFrame, *, first_row: int = 1, _where: str = "") -> FrameCodes:
    """Each cell of a cohort as its state's index (see :mod:`bayesnet.inference.coded`), naming every
    cell that is not a state of its node."""
    _check_columns(model, frame)
    net = model.network
    columns = [str(c) for c in frame.columns]
    table = code_table(net, columns)
    codes = np.empty((len(columns), len(frame)), dtype=np.int16)
    valid = np.ones(len(frame), dtype=bool)
    problems: list[_Problem] = []
    for c, (column, states) in enumerate(zip(columns, table.states)):
        values = frame[column]
        codes[c] = _state_codes(values, states)
        unknown = codes[c] == -1
        if unknown.any():
            for position in np.flatnonzero(unknown):
                value = values.iloc[position]
                name = _row_name(first_row + int(position), frame.index[position], _where)
                problems.append(_Problem(int(position), column, _text(value),
                                         f"{name}, column {column}: {_unknown_state(column, value, states)}"))
            valid &= ~unknown
    return FrameCodes(table, codes, valid, problems)


def encode_frame(model: Model, frame: pd.DataFrame, *, first_row: int = 1, _where: str = "") -> EncodedFrame:
    """Encode a cohort's cells as likelihood arrays, without scoring it.

    Parameters
    ----------
    model
        The model whose nodes the columns name.
    frame
        One row per case; columns are node names; cells are state names or empty.
    first_row
        The data-row number of the frame's first row (for frames that are chunks of a longer table).

    Returns
    -------
    EncodedFrame
        ``batch`` holds the rows whose cells are all valid states (``valid`` marks them among the
        frame's rows), with the population's condition applied; ``errors`` lists every cell that is
        not a state of its node.

    Raises
    ------
    UnknownColumnError
        A column that is not a node of the model.
    """
    coded = frame_codes(model, frame, first_row=first_row, _where=_where)
    context, conditions, findings = fill_rows(coded.table, coded.codes[:, coded.valid])
    bounds = np.cumsum([0, *(len(s) for s in model.network.context_states)])
    batch = EvidenceBatch(tuple(np.ascontiguousarray(context[:, a:b]) for a, b in zip(bounds[:-1], bounds[1:])),
                          conditions, findings)
    return EncodedFrame(batch, coded.valid, _errors(frame, coded.problems, first_row))


def _text(value: object) -> str:
    """A cell as text: a file's cells are text already; 1.0 rather than np.float64(1.0)."""
    return str(value.item() if isinstance(value, np.generic) else value)


def _unknown_state(column: str, value: object, states: tuple[str, ...]) -> str:
    text = _text(value)
    if is_state_set(text):
        return (f"{shown(value)} is a set of states; a cohort cell holds one state of {column} "
                f"({', '.join(states)}) or is left empty (a set, a,b or !a, is taken by a query)")
    close = suggest(text, states)
    message = f"unknown state {shown(value)}"
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    else:
        message += ";"
    return message + f" valid states: {', '.join(states)} (leave the cell empty if not observed)"


def _errors(frame: pd.DataFrame, problems: list[_Problem], first_row: int) -> pd.DataFrame:
    if not problems:
        return empty_errors(frame.index)
    problems = sorted(problems, key=lambda p: p.position)
    positions = [p.position for p in problems]
    return pd.DataFrame({
        "row": pd.Series([first_row + p for p in positions], dtype="int64"),
        "column": pd.Series([p.column for p in problems], dtype=object),
        "value": pd.Series([p.value for p in problems], dtype=object),
        "message": pd.Series([p.message for p in problems], dtype=object),
    }).set_axis(frame.index[positions], axis=0)


def _impossible_problems(model: Model, frame: pd.DataFrame, positions: np.ndarray, first_row: int,
                         where: str) -> list[_Problem]:
    """Name the evidence responsible in each row whose evidence has probability zero."""
    problems = []
    for position in map(int, positions):
        evidence = {c: v for c, v in frame.iloc[position].items() if not _is_blank(v)}
        items = model.impossible_error(model.encode(evidence)).culprits
        culprits = [item.split("=", 1) for item in items]
        name = _row_name(first_row + position, frame.index[position], where)
        if len(items) == 1:
            message = f"{name}: the evidence {items[0]} is impossible under the model (probability zero)"
        else:
            message = (f"{name}: the evidence is impossible under the model (probability zero): "
                       f"{', '.join(items)} cannot all hold together")
        problems.append(_Problem(position, ", ".join(c[0] for c in culprits), ", ".join(c[1] for c in culprits),
                                 message))
    return problems


def _raise_rows(errors: pd.DataFrame) -> None:
    rows = errors["row"].unique()
    listed = errors[errors["row"].isin(rows[:LISTED_ROWS])]["message"].tolist()
    hint = "to score the other rows and report these instead: on_error='skip', or --on-error skip"
    if len(listed) == 1:
        raise CohortRowError(f"{listed[0]}\n({hint})", errors)
    lines = [f"{len(rows)} row{'s' if len(rows) > 1 else ''} cannot be scored:", *(f"  {m}" for m in listed)]
    if len(rows) > LISTED_ROWS:
        lines.append(f"  ... and {len(rows) - LISTED_ROWS} more rows")
    raise CohortRowError("\n".join([*lines, f"({hint})"]), errors)


def score_frame(model: Model, frame: pd.DataFrame, *, on_error: OnError = "raise", log_evidence: bool = True,
                first_row: int = 1, workers: int | None = None, _where: str = "") -> CohortScore:
    """Score every row of a cohort: P(condition present | the row's evidence) per condition.

    Parameters
    ----------
    model
        The diagnostic model.
    frame
        One row per case; columns are node names; cells are state names, empty where unobserved.
    on_error
        ``"raise"`` (default): raise :class:`CohortRowError` if any row cannot be scored.
        ``"skip"``: score the other rows and report the skipped ones in ``errors``.
    log_evidence
        Add the column ``log_evidence``: log P(the row's evidence).
    first_row
        The data-row number of the frame's first row, used in reports (for chunks of a longer table).
    workers
        Threads that answer the cases (default: the engine's; see
        :meth:`~bayesnet.inference.engine.ExactEngine.query_batch`).

    Returns
    -------
    CohortScore
        ``posteriors`` (one row per scored case, the input's index) and ``errors`` (the skipped
        cases' problems; empty unless ``on_error="skip"`` skipped some).

    Raises
    ------
    UnknownColumnError
        A column that is not a node of the model (whatever ``on_error`` says).
    CohortRowError
        With ``on_error="raise"``: a cell that is not a state of its node, or a row whose evidence
        is impossible; the message names row number, index label, column and the valid states.
    """
    if on_error not in ON_ERROR:
        raise EvidenceError(f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, got {on_error!r}")
    coded = frame_codes(model, frame, first_row=first_row, _where=_where)
    errors = _errors(frame, coded.problems, first_row)
    if len(errors) and on_error == "raise":
        _raise_rows(errors)
    valid = np.flatnonzero(coded.valid)
    if len(valid):
        codes = coded.codes if len(valid) == len(frame) else coded.codes[:, valid]
        with np.errstate(divide="ignore", invalid="ignore"):  # impossible rows come back as -inf, handled below
            log_ev, posterior = model.engine.query_coded(codes, coded.table, workers=workers)
    else:
        log_ev, posterior = np.zeros(0), np.zeros((0, len(model.conditions)))
    impossible = ~np.isfinite(log_ev)
    if impossible.any():
        found = _errors(frame, _impossible_problems(model, frame, valid[impossible], first_row, _where), first_row)
        if on_error == "raise":
            _raise_rows(found)
        if len(errors):
            found = pd.concat([errors, found])
            found = found.iloc[np.argsort(found["row"].to_numpy(), kind="stable")]
        errors = found
        valid, log_ev, posterior = valid[~impossible], log_ev[~impossible], posterior[~impossible]
    # the engine's array is new and owned here: the frame takes it as it is (pandas would copy it)
    result = pd.DataFrame(posterior, index=frame.index[valid], columns=list(model.conditions), copy=False)
    if log_evidence:
        result[LOG_EVIDENCE] = log_ev
    return CohortScore(result, errors)


def score_csv(model: Model, source: str | Path | IO[str], *, chunksize: int = CHUNKSIZE, on_error: OnError = "raise",
              log_evidence: bool = True, id_column: str | None = None) -> Iterator[CohortScore]:
    """Score a CSV file of cases chunk by chunk, in bounded memory.

    Parameters
    ----------
    model
        The diagnostic model.
    source
        A path or an open text file: a header line of node names (and ``id_column``), then one case
        per line. Only an empty field means unobserved; ``NA`` and the like are not special.
    chunksize
        Rows read, encoded and scored at a time.
    on_error, log_evidence
        As for :func:`score_frame`.
    id_column
        A column holding case identifiers, used as the index of the results. Without it the index
        is the 1-based data-row number, named ``row``.

    Yields
    ------
    CohortScore
        One per chunk, with data-row numbers counted from the start of the file.

    Raises
    ------
    UnknownColumnError, CohortRowError
        As for :func:`score_frame`; raised when the chunk concerned is read.
    EvidenceError
        A file that is not a readable CSV table, or an ``id_column`` missing from its header.
    """
    if not isinstance(chunksize, (int, np.integer)) or isinstance(chunksize, bool) or chunksize < 1:
        raise EvidenceError(f"chunksize must be a positive whole number, got {chunksize!r}")
    name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "the cases")
    # cells stay the text of the file (read as categories, a column of 1s would become the number 1.0)
    dtype: defaultdict[str, object] = defaultdict(lambda: str)
    handle = _guarded(source, name)  # read once, from the start: a FIFO or standard input can be read only once
    try:
        reader = _read(name, lambda: pd.read_csv(handle, chunksize=int(chunksize), dtype=dtype, keep_default_na=False,
                                                 na_values=[""]))
    except BaseException:
        handle.close()
        raise
    hint = "" if id_column is not None else "; a column of case identifiers is named with id_column (--id)"
    first_row = 1
    with handle, reader:
        while True:
            chunk = _read(name, lambda: next(reader, None))
            if chunk is None:
                return
            if id_column is None:
                chunk.index = pd.RangeIndex(first_row, first_row + len(chunk), name="row")
            else:
                _check_id_column(id_column, chunk, name)
                chunk = chunk.set_index(id_column)
            try:
                yield score_frame(model, chunk, on_error=on_error, log_evidence=log_evidence, first_row=first_row)
            except UnknownColumnError as error:
                raise UnknownColumnError(list(error.names), error.valid, hint) from None
            first_row += len(chunk)


def _check_id_column(id_column: str, chunk: pd.DataFrame, name: str) -> None:
    header = [str(c) for c in chunk.columns]
    if id_column not in header:
        close = suggest(id_column, header)
        raise EvidenceError(f"the id column {shown(id_column)} is not in the header of {name}"
                            + (f"; did you mean {' or '.join(map(repr, close))}?" if close else ".")
                            + f" The header has: {', '.join(header)}")


#: how a case file's name ending says it is compressed
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def _guarded(source: str | Path | IO, name: str) -> GuardedCSV:
    """The file (opened if a path; decompressed by its name's ending) read under the caps of :mod:`csvguard`."""
    if isinstance(source, (str, Path)):
        opener = _OPENERS.get(Path(source).suffix.lower(), open)
        return GuardedCSV(opener(source, "rb"), name)
    return GuardedCSV(source, name, owned=False)


def _read(name: object, read):
    """Run a pandas CSV read, turning its parse errors into one clear message naming the file."""
    try:
        return read()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise EvidenceError(f"cannot read {name} as a CSV table of cases: {str(error).strip()}") from None
