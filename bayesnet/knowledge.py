"""Read and validate a knowledge-base folder (``priors/``).

The folder's format is documented in ``priors/README.md``. :func:`load_knowledge` reads every file,
checks everything it can, and raises one :class:`~bayesnet.errors.KnowledgeBaseError` that lists
every problem with its file, line and field, or returns a :class:`KnowledgeBase` of frozen records.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from .errors import KnowledgeBaseError, Problem, suggest

__all__ = [
    "NodeSpec",
    "Parameter",
    "VerbalPhrase",
    "KnowledgeBase",
    "load_knowledge",
    "NodeType",
    "Role",
    "KINDS",
]

NodeType = Literal["context", "condition", "finding"]
Role = Literal["context_prior", "condition_leak", "risk_factor", "finding_leak", "link"]
KINDS = ("reported", "derived", "verbal", "assumed")
BINARY = ("absent", "present")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PROVENANCE = ("value", "low", "high", "kind", "source", "quote", "phrase", "complement", "n", "N", "note")

#: file name -> (role, key columns)
TABLES: dict[str, tuple[Role, tuple[str, ...]]] = {
    "context_priors.csv": ("context_prior", ("node", "state")),
    "condition_priors.csv": ("condition_leak", ("condition",)),
    "risk_factors.csv": ("risk_factor", ("condition", "context", "state")),
    "finding_leaks.csv": ("finding_leak", ("finding",)),
    "links.csv": ("link", ("finding", "condition")),
}


@dataclass(frozen=True)
class NodeSpec:
    """A node of the network as ``nodes.csv`` defines it."""

    name: str
    type: NodeType
    states: tuple[str, ...]
    group: str
    description: str


@dataclass(frozen=True)
class VerbalPhrase:
    """One entry of the verbal scale: a frequency word and the probability it stands for."""

    phrase: str
    value: float
    low: float
    high: float
    anchor: str
    note: str


@dataclass(frozen=True)
class Parameter:
    """One number of the knowledge base with its provenance.

    ``node`` is the node whose table the number belongs to; ``parent`` is the cause (a condition, or
    ``context=state`` for a risk factor) and ``state`` the state of a context prior. ``value``,
    ``low`` and ``high`` are probabilities as written (for links and risk factors: P(effect present |
    this cause alone), leak included); verbal values are already read off the verbal scale.
    """

    role: Role
    node: str
    parent: str | None
    state: str | None
    value: float
    low: float
    high: float
    kind: str
    source: str
    quote: str
    phrase: str
    complement: bool
    n: int | None
    N: int | None
    note: str
    file: str
    line: int

    @property
    def name(self) -> str:
        """A unique, readable identifier such as ``link:fluid_levels<-tumoral_calcinosis``."""
        if self.role == "context_prior":
            return f"prior:{self.node}={self.state}"
        if self.role in ("condition_leak", "finding_leak"):
            return f"leak:{self.node}"
        return f"{'risk' if self.role == 'risk_factor' else 'link'}:{self.node}<-{self.parent}"


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything a knowledge-base folder holds, validated."""

    path: Path
    nodes: tuple[NodeSpec, ...]
    parameters: tuple[Parameter, ...]
    verbal_scale: tuple[VerbalPhrase, ...]

    def node(self, name: str) -> NodeSpec:
        return next(n for n in self.nodes if n.name == name)

    def names(self, type: NodeType) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes if n.type == type)

    def with_verbal_scale(self, scale: tuple[VerbalPhrase, ...]) -> KnowledgeBase:
        """The same knowledge base with every verbal value re-read from another scale."""
        by_phrase = {v.phrase: v for v in scale}
        missing = sorted({p.phrase for p in self.parameters if p.kind == "verbal"} - set(by_phrase))
        if missing:
            raise KnowledgeBaseError([Problem("verbal scale", None, "phrase", f"the scale has no {m!r}") for m in missing])
        params = tuple(
            replace(p, **dict(zip(("value", "low", "high"), _verbal_numbers(by_phrase[p.phrase], p.complement))))
            if p.kind == "verbal" else p
            for p in self.parameters
        )
        return replace(self, parameters=params, verbal_scale=tuple(scale))


def _verbal_numbers(entry: VerbalPhrase, complement: bool) -> tuple[float, float, float]:
    if complement:
        return 1.0 - entry.value, 1.0 - entry.high, 1.0 - entry.low
    return entry.value, entry.low, entry.high


class _Reader:
    """Collects problems while reading the CSV files of one folder."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[Problem] = []
        self.unreadable: set[str] = set()

    def problem(self, file: str, line: int | None, field: str | None, message: str) -> None:
        self.problems.append(Problem(file, line, field, message))

    def rows(self, file: str, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
        target = self.path / file
        if not target.is_file():
            self.problem(file, None, None, f"missing: expected a file {target}")
            self.unreadable.add(file)
            return []
        try:
            text = target.read_bytes().decode("utf-8-sig")
        except (UnicodeDecodeError, OSError) as error:
            if isinstance(error, UnicodeDecodeError):
                self.problem(file, error.object[:error.start].count(b"\n") + 1, None, "not UTF-8 text (byte "
                             f"0x{error.object[error.start]:02x}); the knowledge-base files must be UTF-8")
            else:
                self.problem(file, None, None, f"cannot be read: {error.strerror or error}")
            self.unreadable.add(file)
            return []
        with io.StringIO(text, newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            extra = [c for c in header if c not in required]
            if missing:
                self.problem(file, 1, None, f"missing column(s) {', '.join(missing)}; expected {', '.join(required)}")
                self.unreadable.add(file)
                return []
            if extra:
                self.problem(file, 1, None, f"unknown column(s) {', '.join(extra)}; expected {', '.join(required)}")
            out = []
            for row in _records(reader, self, file):
                if None in row:
                    self.problem(file, reader.line_num, None, f"more fields than the {len(header)} columns")
                    continue
                values = {k: (v or "").strip() for k, v in row.items()}
                if any(values.values()):
                    out.append((reader.line_num, values))
            return out

    def number(self, file: str, line: int, field: str, text: str, *, required: bool) -> float | None:
        if not text:
            if required:
                self.problem(file, line, field, "a number between 0 and 1 is required, got an empty field")
            return None
        try:
            value = float(text)
        except ValueError:
            self.problem(file, line, field, f"expected a number between 0 and 1, got {text!r}")
            return None
        if not 0.0 <= value <= 1.0 or math.isnan(value):
            self.problem(file, line, field, f"expected a probability between 0 and 1, got {text}")
            return None
        return value

    def count(self, file: str, line: int, field: str, text: str) -> int | None:
        if not text:
            return None
        if not (text.isascii() and text.isdigit()):
            self.problem(file, line, field, f"expected a whole number of patients, got {text!r}")
            return None
        return int(text)


def _read_nodes(reader: _Reader) -> list[NodeSpec]:
    file = "nodes.csv"
    nodes: list[NodeSpec] = []
    seen: dict[str, int] = {}
    for line, row in reader.rows(file, ("node", "type", "states", "group", "description")):
        name, type_, states = row["node"], row["type"], tuple(s.strip() for s in row["states"].split("|"))
        ok = True
        if not NAME.match(name):
            reader.problem(file, line, "node", f"a name of lower-case letters, digits and _ is required, got {name!r}")
            ok = False
        elif name in seen:
            reader.problem(file, line, "node", f"{name!r} is already defined on line {seen[name]}")
            ok = False
        if type_ not in ("context", "condition", "finding"):
            reader.problem(file, line, "type", f"expected context, condition or finding, got {type_!r}")
            ok = False
        bad_states = [s for s in states if not NAME.match(s)]
        if bad_states or len(states) < 2 or len(set(states)) != len(states):
            reader.problem(file, line, "states", f"expected two or more distinct names separated by '|', got {row['states']!r}")
            ok = False
        elif type_ in ("condition", "finding") and states != BINARY:
            reader.problem(file, line, "states", f"a {type_} has the states absent|present, got {row['states']!r}")
            ok = False
        if not row["description"]:
            reader.problem(file, line, "description", "a plain-language description is required")
        if ok:
            seen[name] = line
            nodes.append(NodeSpec(name, type_, states, row["group"], row["description"]))  # type: ignore[arg-type]
    return nodes


def _read_scale(reader: _Reader) -> list[VerbalPhrase]:
    file = "verbal_scale.csv"
    scale: list[VerbalPhrase] = []
    seen: set[str] = set()
    for line, row in reader.rows(file, ("phrase", "value", "low", "high", "anchor", "note")):
        numbers = [reader.number(file, line, f, row[f], required=True) for f in ("value", "low", "high")]
        if row["phrase"] in seen:
            reader.problem(file, line, "phrase", f"{row['phrase']!r} is already on the scale")
            continue
        if None in numbers:
            continue
        value, low, high = numbers
        if not low <= value <= high:  # type: ignore[operator]
            reader.problem(file, line, "low", f"expected low <= value <= high, got {low} <= {value} <= {high}")
            continue
        seen.add(row["phrase"])
        scale.append(VerbalPhrase(row["phrase"], value, low, high, row["anchor"], row["note"]))  # type: ignore[arg-type]
    return scale


def _read_parameter(reader: _Reader, file: str, role: Role, line: int, row: dict[str, str],
                    node: str, parent: str | None, state: str | None,
                    scale: dict[str, VerbalPhrase]) -> Parameter | None:
    kind = row["kind"]
    if kind not in KINDS:
        reader.problem(file, line, "kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        return None
    if kind != "assumed":
        for field in ("source", "quote"):
            if not row[field]:
                reader.problem(file, line, field, f"a {kind} value needs its {field}")
    complement = row["complement"].lower()
    if complement not in ("", "yes", "no"):
        reader.problem(file, line, "complement", f"expected yes, no or empty, got {row['complement']!r}")
        return None
    n = reader.count(file, line, "n", row["n"])
    N = reader.count(file, line, "N", row["N"])
    if kind == "verbal":
        if row["value"] or row["low"] or row["high"]:
            reader.problem(file, line, "value", "a verbal value comes from verbal_scale.csv: leave value, low and high empty")
            return None
        entry = scale.get(row["phrase"])
        if entry is None:
            reader.problem(file, line, "phrase", f"{row['phrase']!r} is not a phrase of verbal_scale.csv"
                           + (f"; valid: {', '.join(sorted(scale))}" if scale else ""))
            return None
        value, low, high = _verbal_numbers(entry, complement == "yes")
    else:
        if row["phrase"] or complement:
            reader.problem(file, line, "phrase", "phrase and complement are for verbal values only")
        numbers = [reader.number(file, line, f, row[f], required=True) for f in ("value", "low", "high")]
        if None in numbers:
            return None
        value, low, high = numbers  # type: ignore[assignment]
        if not low <= value <= high:
            reader.problem(file, line, "low", f"expected low <= value <= high, got {low} <= {value} <= {high}")
            return None
    if bool(row["n"]) != bool(row["N"]):
        given, missing = ("N", "n") if not row["n"] else ("n", "N")
        reader.problem(file, line, missing, f"{given} is given without {missing}: give both n and N, or neither")
    elif n is not None and N is not None:
        if N == 0 or n > N:
            reader.problem(file, line, "n", f"expected 0 <= n <= N with N > 0, got n={n}, N={N}")
        elif kind == "reported" and abs(value - n / N) > 0.005:
            reader.problem(file, line, "value", f"value {value} does not match n/N = {n}/{N} = {n / N:.3f}")
    return Parameter(role, node, parent, state, value, low, high, kind, row["source"], row["quote"],
                     row["phrase"], complement == "yes", n, N, row["note"], file, line)


def load_knowledge(path: str | Path) -> KnowledgeBase:
    """Read and validate the knowledge base in folder ``path``.

    Raises
    ------
    KnowledgeBaseError
        Listing every problem found, each with its file, line and field.
    """
    path = Path(path)
    if not path.is_dir():
        raise KnowledgeBaseError([Problem(str(path), None, None, "expected a folder holding the knowledge-base files")])
    reader = _Reader(path)
    nodes = _read_nodes(reader)
    scale = {v.phrase: v for v in _read_scale(reader)}
    by_name = {n.name: n for n in nodes}
    params: list[Parameter] = []
    keys_seen: dict[tuple[str, ...], tuple[str, int]] = {}

    def check_node(file: str, line: int, field: str, name: str, type_: NodeType) -> bool:
        node = by_name.get(name)
        if node is None:
            close = suggest(name, [n.name for n in nodes if n.type == type_])
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            reader.problem(file, line, field, f"{name!r} is not a {type_} of nodes.csv{hint}")
            return False
        if node.type != type_:
            reader.problem(file, line, field, f"{name!r} is a {node.type}, expected a {type_}")
            return False
        return True

    for file, (role, keys) in TABLES.items():
        for line, row in reader.rows(file, keys + PROVENANCE):
            key = tuple(row[k] for k in keys)
            if key in keys_seen and keys_seen[key][0] == file:
                reader.problem(file, line, keys[0], f"{' '.join(key)} is already given on line {keys_seen[key][1]}")
                continue
            keys_seen[key] = (file, line)
            parent = state = None
            if role == "context_prior":
                node = row["node"]
                if not check_node(file, line, "node", node, "context"):
                    continue
                state = row["state"]
                if state not in by_name[node].states:
                    reader.problem(file, line, "state", f"{state!r} is not a state of {node}; valid: {', '.join(by_name[node].states)}")
                    continue
            elif role == "condition_leak":
                node = row["condition"]
                if not check_node(file, line, "condition", node, "condition"):
                    continue
            elif role == "finding_leak":
                node = row["finding"]
                if not check_node(file, line, "finding", node, "finding"):
                    continue
            elif role == "risk_factor":
                node = row["condition"]
                ok = check_node(file, line, "condition", node, "condition")
                ok = check_node(file, line, "context", row["context"], "context") and ok
                if not ok:
                    continue
                if row["state"] not in by_name[row["context"]].states:
                    reader.problem(file, line, "state", f"{row['state']!r} is not a state of {row['context']}; "
                                   f"valid: {', '.join(by_name[row['context']].states)}")
                    continue
                parent = f"{row['context']}={row['state']}"
            else:
                node = row["finding"]
                ok = check_node(file, line, "finding", node, "finding")
                ok = check_node(file, line, "condition", row["condition"], "condition") and ok
                if not ok:
                    continue
                parent = row["condition"]
            param = _read_parameter(reader, file, role, line, row, node, parent, state, scale)
            if param is not None:
                params.append(param)

    _check_structure(reader, nodes, params, {key for key, _ in keys_seen.items()})
    if reader.problems:
        raise KnowledgeBaseError(reader.problems)
    return KnowledgeBase(path, tuple(nodes), tuple(params), tuple(scale.values()))


def _check_structure(reader: _Reader, nodes: list[NodeSpec], params: list[Parameter],
                     rows_given: set[tuple[str, ...]]) -> None:
    """Checks across files: every table complete, priors summing to one, values above leaks.

    A row that is present but invalid has been reported already, so its absence is not reported again.
    """
    leaks = {p.node: p for p in params if p.role in ("condition_leak", "finding_leak")}
    priors: dict[str, list[Parameter]] = defaultdict(list)
    for p in params:
        if p.role == "context_prior":
            priors[p.node].append(p)
    for node in nodes:
        if node.type == "context":
            rows = priors.get(node.name, [])
            if node.states == BINARY:
                for p in rows:
                    if p.state != "present":
                        reader.problem(p.file, p.line, "state", f"{node.name} is absent|present: give only its present row")
                if not any(p.state == "present" for p in rows) and "context_priors.csv" not in reader.unreadable \
                        and (node.name, "present") not in rows_given:
                    reader.problem("context_priors.csv", None, "node", f"{node.name} has no prior: add its present row")
            else:
                given = {p.state for p in rows}
                if "context_priors.csv" in reader.unreadable or any((node.name, s) in rows_given and s not in given
                                                                    for s in node.states):
                    continue
                if given != set(node.states):
                    missing = [s for s in node.states if s not in given]
                    reader.problem("context_priors.csv", None, "state", f"{node.name} lacks a prior for {', '.join(missing)}")
                else:
                    total = math.fsum(p.value for p in rows)
                    if abs(total - 1.0) > 1e-9:
                        reader.problem("context_priors.csv", rows[0].line, "value",
                                       f"the priors of {node.name} sum to {total:.12g}, expected 1")
        elif node.name not in leaks and (node.name,) not in rows_given:
            file = "condition_priors.csv" if node.type == "condition" else "finding_leaks.csv"
            if file not in reader.unreadable:
                reader.problem(file, None, node.type, f"{node.name} has no row")
    for p in leaks.values():
        if p.value >= 1.0:
            reader.problem(p.file, p.line, "value", f"a leak must be below 1, got {p.value}")
    linked = {p.node for p in params if p.role == "link"} | {key[0] for key in rows_given if len(key) == 2}
    for node in nodes:
        if node.type == "finding" and node.name not in linked and "links.csv" not in reader.unreadable:
            reader.problem("links.csv", None, "finding", f"{node.name} has no cause: add at least one link")
    for p in params:
        if p.role in ("link", "risk_factor") and p.node in leaks:
            leak = leaks[p.node]
            if p.value < leak.value:
                reader.problem(p.file, p.line, "value", f"{p.value} is below the leak {leak.value} of {p.node} "
                               f"({leak.file}:{leak.line}); a cause can only raise its effect's probability")


def _records(reader: csv.DictReader, problems: _Reader, file: str):
    """The rows of a CSV file; a line the csv module cannot read ends the file with a problem."""
    try:
        yield from reader
    except csv.Error as error:
        problems.problem(file, reader.line_num + 1, None, f"not a readable CSV line: {error}")
        problems.unreadable.add(file)
