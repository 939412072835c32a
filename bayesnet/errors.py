"""The exceptions bayesnet raises for bad input.

Every error a user can cause derives from :class:`BayesnetError`, so a caller (or the command line)
can catch one class and show its message. A traceback is for a bug in bayesnet, never for bad input.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BayesnetError",
    "KnowledgeBaseError",
    "Problem",
    "UnknownNameError",
    "EvidenceError",
    "ImpossibleEvidenceError",
    "OutputError",
]


class BayesnetError(Exception):
    """Base class of every error bayesnet raises for bad input."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a knowledge-base file."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message}"


class KnowledgeBaseError(BayesnetError):
    """The knowledge base has problems; every one is listed with its file, line and field."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"the knowledge base has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to about ``limit`` characters (a message quotes bad input, never all of it)."""
    if isinstance(value, np.generic):
        value = value.item()  # 1.0 rather than np.float64(1.0)
    try:
        text = repr(value)
    except Exception:  # e.g. an int too long to print
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text)} characters)"


def suggest(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` entries of ``valid`` that are close to ``name``."""
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=n, cutoff=0.6)
    if len(close) < n:
        lowered = name.lower()
        close += [v for v in valid if lowered and lowered in v.lower() and v not in close][: n - len(close)]
    return close


class UnknownNameError(BayesnetError, KeyError):
    """A node or state name that the model does not have; the message suggests close matches."""

    def __init__(self, what: str, name: str, valid: Iterable[str]):
        valid = list(valid)
        self.what, self.name, self.valid = what, name, valid
        close = suggest(name, valid)
        message = f"unknown {what} {shown(name)}"
        if close:
            message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif len(valid) <= 12:
            message += "; valid: " + ", ".join(valid)
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class EvidenceError(BayesnetError, ValueError):
    """Evidence that is malformed: a bad likelihood vector, a node observed twice, and so on."""


class ImpossibleEvidenceError(EvidenceError):
    """Evidence whose probability under the model is zero."""

    def __init__(self, message: str, culprits: Sequence[str] = ()):
        self.culprits = tuple(culprits)
        super().__init__(message)


class OutputError(BayesnetError, OSError):
    """An output that cannot be written: an empty name, a directory, a full disk, and so on."""

    def __str__(self) -> str:  # OSError would add its own formatting
        return self.args[0]
