"""A scenario set: named cases of evidence kept as data (a CSV file), for analyses over many cases.

The file has one row per case with at least the columns ``case`` (a unique name) and ``evidence``
(space-separated ``node=state`` items, or ``node=0.2,0.8`` for a likelihood per state); other
columns (``expected_top``, ``source``, ``quote``, ``note``, ...) are kept as they are. It is the
format of the seed-derived cases in ``tests/cases.csv``.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from bayesnet.errors import BayesnetError
from bayesnet.inference.evidence import Evidence, parse_evidence

__all__ = ["Scenario", "ScenarioError", "read_scenarios"]

REQUIRED = ("case", "evidence")


class ScenarioError(BayesnetError, ValueError):
    """A scenario file that cannot be read: the message names the file, line and field."""


@dataclass(frozen=True)
class Scenario:
    """One named case: its evidence and the other columns of its row."""

    case: str
    evidence: Evidence
    line: int
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The evidence as written in the file."""
        return self.fields.get("evidence", "")


def read_scenarios(path: str | Path) -> tuple[Scenario, ...]:
    """Read a scenario set; names must be unique.

    Raises
    ------
    ScenarioError
        For a missing file or column, a duplicate or empty name, or malformed evidence (naming the
        file, line and field). Unknown node or state names are reported when the evidence is encoded
        by a model.
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"expected a scenario file (CSV with columns {', '.join(REQUIRED)}), got {str(path)!r}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ScenarioError(f"{path.name}:1: missing column(s) {', '.join(missing)}; "
                                f"expected at least {', '.join(REQUIRED)}, got {', '.join(header) or 'none'}")
        scenarios: list[Scenario] = []
        seen: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            values = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if not any(values.values()):
                continue
            name = values["case"]
            if not name:
                raise ScenarioError(f"{path.name}:{line} [case]: a case needs a name")
            if name in seen:
                raise ScenarioError(f"{path.name}:{line} [case]: {name!r} is already used on line {seen[name]}")
            try:
                evidence = parse_evidence(values["evidence"])
            except ValueError as error:
                raise ScenarioError(f"{path.name}:{line} [evidence]: {error}") from None
            seen[name] = line
            scenarios.append(Scenario(name, evidence, line, values))
    if not scenarios:
        raise ScenarioError(f"{path.name}: expected at least one case, got none")
    return tuple(scenarios)
