"""Which knowledge base answered: a version, a content hash, and the rows that differ from the shipped one.

A knowledge-base folder is identified by

* its **version**: the first line of the file ``VERSION`` in the folder (``unversioned`` without
  one), which the curators change with every release of the numbers;
* its **content hash**: SHA-256 over every ``*.csv`` file directly in the folder, in order of file
  name, each as its name, a zero byte, its size in bytes as decimal digits, a zero byte, then its
  bytes. Any change to any number, quote or row of any table changes it; nothing else does.

:func:`diff_folders` lists, row by row, how one folder differs from another (the shipped one, for
``bayesnet provenance --diff``): rows are matched by their key columns (a link by its finding and
condition, and so on), so a changed value is one *changed* row and a deleted row is *removed*.
"""
from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bayesnet.errors import KnowledgeBaseError, Problem
from bayesnet.knowledge.base import TABLES

__all__ = ["VERSION_FILE", "UNVERSIONED", "KnowledgeBaseId", "identify", "read_identified", "Change", "diff_folders",
           "DIFF_COLUMNS"]

VERSION_FILE = "VERSION"
UNVERSIONED = "unversioned"
#: the key columns of the files that are not parameter tables
OTHER_KEYS = {"nodes.csv": ("node",), "verbal_scale.csv": ("phrase",)}
#: the longest version string accepted
MAX_VERSION = 100

T = TypeVar("T")


@dataclass(frozen=True)
class KnowledgeBaseId:
    """The identity of a knowledge-base folder: its version, its content hash and where it was read."""

    version: str
    sha256: str
    path: str

    def as_dict(self) -> dict[str, str]:
        return {"version": self.version, "sha256": self.sha256, "path": self.path}

    def __str__(self) -> str:
        return f"knowledge base version {self.version}, sha256 {self.sha256[:12]}"


def _csv_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.suffix == ".csv" and p.is_file()), key=lambda p: p.name)


def content_hash(folder: str | Path) -> str:
    """SHA-256 of the folder's CSV files, as the module's description defines it."""
    digest = hashlib.sha256()
    for path in _csv_files(Path(folder)):
        data = _read_bytes(path)
        digest.update(path.name.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0")
        digest.update(data)
    return digest.hexdigest()


def read_version(folder: str | Path) -> str:
    """The first line of the folder's ``VERSION`` file, or ``unversioned`` when there is none."""
    path = Path(folder) / VERSION_FILE
    if not path.exists():
        return UNVERSIONED
    data = _read_bytes(path)
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise KnowledgeBaseError([Problem(VERSION_FILE, 1, None, "not UTF-8 text; the knowledge-base files must be "
                                          "UTF-8")]) from None
    version = lines[0].strip() if lines else ""
    if not version or len(version) > MAX_VERSION or not version.isprintable():
        raise KnowledgeBaseError([Problem(VERSION_FILE, 1, None, f"expected a version of 1 to {MAX_VERSION} printable "
                                          f"characters on the first line, got {version[:MAX_VERSION]!r}")])
    return version


def identify(folder: str | Path) -> KnowledgeBaseId:
    """The version and content hash of a knowledge-base folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KnowledgeBaseError([Problem(str(folder), None, None, "expected a folder holding the knowledge-base files")])
    return KnowledgeBaseId(read_version(folder), content_hash(folder), str(folder))


def read_identified(folder: str | Path, read: Callable[[Path], T]) -> tuple[T, KnowledgeBaseId]:
    """``read(folder)`` with the folder's identity, checked unchanged before and after the read."""
    before = identify(folder)
    result = read(Path(folder))
    if identify(folder) != before:
        raise KnowledgeBaseError([Problem(str(folder), None, None, "the files changed while they were being read; "
                                          "load the knowledge base again")])
    return result, before


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise KnowledgeBaseError([Problem(path.name, None, None, f"cannot be read: {error.strerror or error}")]) from None


# ---------------------------------------------------------------------------- row-by-row differences
#: the columns of :func:`diff_folders`'s table
DIFF_COLUMNS = ("file", "row", "change", "line", "shipped_line", "field", "shipped", "loaded")


@dataclass(frozen=True)
class Change:
    """One difference between a loaded folder and a reference (the shipped) folder.

    ``change`` is ``added``, ``removed`` or ``changed`` (a row), or ``file added`` / ``file removed``.
    ``row`` names the row by its key columns; ``line`` and ``shipped_line`` are its line numbers in
    each folder; for a changed row, ``field`` is the column and ``shipped`` / ``loaded`` its two
    values (one Change per changed column); for an added or removed row they hold the whole row.
    """

    file: str
    row: str
    change: str
    line: int | None
    shipped_line: int | None
    field: str
    shipped: str
    loaded: str


def diff_folders(loaded: str | Path, shipped: str | Path) -> list[Change]:
    """Every difference of ``loaded`` from ``shipped``, file by file (in name order), row by row."""
    loaded, shipped = Path(loaded), Path(shipped)
    ours = {p.name: p for p in _csv_files(loaded)}
    theirs = {p.name: p for p in _csv_files(shipped)}
    changes: list[Change] = []
    for name in sorted(ours.keys() | theirs.keys()):
        if name not in theirs:
            changes.append(Change(name, "", "file added", None, None, "", "", ""))
        elif name not in ours:
            changes.append(Change(name, "", "file removed", None, None, "", "", ""))
        else:
            changes += _diff_file(name, _read_bytes(ours[name]), _read_bytes(theirs[name]))
    return changes


def _diff_file(name: str, loaded: bytes, shipped: bytes) -> list[Change]:
    if loaded == shipped:
        return []
    keys = TABLES[name][1] if name in TABLES else OTHER_KEYS.get(name, ())
    ours, theirs = _rows(loaded, keys), _rows(shipped, keys)
    changes = []
    for key in [*theirs, *(k for k in ours if k not in theirs)]:
        if key not in ours:
            line, row, text = theirs[key]
            changes.append(Change(name, _label(key, keys), "removed", None, line, "", text, ""))
        elif key not in theirs:
            line, row, text = ours[key]
            changes.append(Change(name, _label(key, keys), "added", line, None, "", "", text))
        else:
            line, row, _ = ours[key]
            shipped_line, shipped_row, _ = theirs[key]
            for field in [*shipped_row, *(f for f in row if f not in shipped_row)]:
                if row.get(field, "") != shipped_row.get(field, ""):
                    changes.append(Change(name, _label(key, keys), "changed", line, shipped_line, field,
                                          shipped_row.get(field, ""), row.get(field, "")))
    return changes


def _rows(data: bytes, keys: tuple[str, ...]) -> dict[tuple, tuple[int, dict[str, str], str]]:
    """Each non-blank row by its key (its key columns, or the whole row), with its line and text."""
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
    except csv.Error:
        header = []
    keyed = bool(keys) and all(k in header for k in keys)
    rows: dict[tuple, tuple[int, dict[str, str], str]] = {}
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error:  # a line the csv module cannot read: compared as it stands
            fields = [f"(unreadable line {line})"]
        if not any(f.strip() for f in fields):
            continue
        row = {column: value for column, value in zip(header, fields)}
        for extra, value in enumerate(fields[len(header):], start=1):
            row[f"(extra field {extra})"] = value
        key = tuple(row.get(k, "").strip() for k in keys) if keyed else tuple(fields)
        occurrence = 1
        while (key, occurrence) in rows:  # a key given twice: the second occurrence is a row of its own
            occurrence += 1
        rows[(key, occurrence)] = (line, row, ",".join(fields))
    return rows


def _label(key: tuple, keys: tuple[str, ...]) -> str:
    values, occurrence = key
    if len(values) == len(keys) and keys:
        label = " ".join(f"{k}={v}" for k, v in zip(keys, values))
    else:
        label = ",".join(values)
    return label if occurrence == 1 else f"{label} (occurrence {occurrence})"
