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

import numpy as np

from bayesnet.errors import KnowledgeBaseError, Problem, suggest

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

#: how far an ordered finding's cause may seem to lower it (the ratio of its cumulative probabilities
#: to the leak's) before the loader refuses it: rounding only. A fitted folder's numbers sit on
#: their ranges' edges to within 1e-12 and the ratio divides by the leak's, so 1e-12 would refuse
#: rounding; a table written by hand that breaks the constraint does so by far more than 1e-9, and
#: the engine clips what is left (``cause_from_alone``).
ORDERED_SLACK = 1e-9

NodeType = Literal["context", "condition", "finding"]
Role = Literal["context_prior", "condition_leak", "risk_factor", "finding_leak", "link"]
KINDS = ("reported", "derived", "verbal", "assumed", "literature", "fitted")
#: the folder of stored literature excerpts, inside a knowledge-base folder
SOURCES = "sources"
BINARY = ("absent", "present")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PROVENANCE = ("value", "low", "high", "kind", "source", "quote", "phrase", "complement", "n", "N", "note")

#: file name -> (role, key columns)
TABLES: dict[str, tuple[Role, tuple[str, ...]]] = {
    "context_priors.csv": ("context_prior", ("node", "state")),
    "condition_priors.csv": ("condition_leak", ("condition",)),
    "risk_factors.csv": ("risk_factor", ("condition", "context", "state")),
    "finding_leaks.csv": ("finding_leak", ("finding", "state")),
    "links.csv": ("link", ("finding", "state", "condition")),
}
#: the group of the presenting findings: every patient of the population has at least one present
PRESENTING = "presenting"
#: ``cells.csv`` entries: a row in links.csv, or no effect beyond the finding's leak
CELL_LINK, CELL_NONE = "link", "-"


@dataclass(frozen=True)
class NodeSpec:
    """A node of the network as ``nodes.csv`` defines it.

    A finding whose states are not ``absent|present`` is *ordered*: its states run from the lowest
    (what no cause produces) to the highest, and its table is a leaky noisy-MAX.
    """

    name: str
    type: NodeType
    states: tuple[str, ...]
    group: str
    description: str

    @property
    def ordered(self) -> bool:
        """A multi-state finding (a noisy-MAX over its ordered states)."""
        return self.type == "finding" and self.states != BINARY

    @property
    def presenting(self) -> bool:
        return self.type == "finding" and self.group == PRESENTING


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
    ``context=state`` for a risk factor) and ``state`` the state of a context prior, or of an ordered
    finding for its leaks and links (``None`` for a binary finding, whose number is about
    ``present``). ``value``, ``low`` and ``high`` are probabilities as written (for links and risk
    factors: P(effect in this state | this cause alone), leak included); verbal values are already
    read off the verbal scale.
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
        effect = self.node if self.state is None else f"{self.node}={self.state}"
        if self.role in ("condition_leak", "finding_leak"):
            return f"leak:{effect}"
        if self.role == "risk_factor":
            return f"risk:{self.node}<-{self.parent}"
        return f"link:{effect}<-{self.parent}"


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything a knowledge-base folder holds, validated."""

    path: Path
    nodes: tuple[NodeSpec, ...]
    parameters: tuple[Parameter, ...]
    verbal_scale: tuple[VerbalPhrase, ...]
    #: (finding, condition) pairs that ``cells.csv`` declares to have no effect beyond the leak
    no_effect: tuple[tuple[str, str], ...] = ()
    #: rows not in use: the seed rows a ``literature`` row replaces (or, loaded without the
    #: literature, the literature rows)
    set_aside: tuple[Parameter, ...] = ()
    #: whether the literature layer is in use
    literature: bool = True

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
        elif type_ == "condition" and states != BINARY:
            reader.problem(file, line, "states", f"a condition has the states absent|present, got {row['states']!r}")
            ok = False
        elif type_ == "finding" and row["group"] == PRESENTING and states != BINARY:
            reader.problem(file, line, "states", f"a presenting finding has the states absent|present, got {row['states']!r}")
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
    if kind == "fitted":
        if not row["source"]:
            reader.problem(file, line, "source", "a fitted value names its cohort in source")
        if not (row["n"] and row["N"]):
            reader.problem(file, line, "n", "a fitted value gives its effective counts n and N")
    elif kind != "assumed":
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
        if (N == 0 and kind != "fitted") or n > N:
            reader.problem(file, line, "n", f"expected 0 <= n <= N with N > 0, got n={n}, N={N}")
        elif kind == "reported" and abs(value - n / N) > 0.005:
            reader.problem(file, line, "value", f"value {value} does not match n/N = {n}/{N} = {n / N:.3f}")
    return Parameter(role, node, parent, state, value, low, high, kind, row["source"], row["quote"],
                     row["phrase"], complement == "yes", n, N, row["note"], file, line)


def load_knowledge(path: str | Path, *, literature: bool = True) -> KnowledgeBase:
    """Read and validate the knowledge base in folder ``path``.

    Rows of kind ``literature`` form a layer over the seeds' rows: such a row may stand beside a
    row of the same key (its ``note`` then says why it replaces it), and it names a stored excerpt
    under ``sources/``. With ``literature=False`` they are set aside and the seeds' rows answer; a
    link that only the literature gives is then a cell at the leak.

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
    layers_seen: dict[tuple[tuple[str, ...], str], tuple[str, int]] = {}

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

    def finding_state(file: str, line: int, node: NodeSpec, state: str) -> tuple[bool, str | None]:
        """A finding row's state: ``None`` for a binary finding, a state above the lowest otherwise."""
        if not node.ordered:
            if state in ("", "present"):
                return True, None
            reader.problem(file, line, "state", f"{node.name} is absent|present: leave state empty (the row is about present), got {state!r}")
            return False, None
        if state not in node.states[1:]:
            reader.problem(file, line, "state", f"{node.name} is ordered ({' < '.join(node.states)}): state must be one of "
                           f"{', '.join(node.states[1:])} (the lowest, {node.states[0]}, is the complement), got {state!r}")
            return False, None
        return True, state

    for file, (role, keys) in TABLES.items():
        for line, row in reader.rows(file, keys + PROVENANCE):
            key = tuple(row[k] for k in keys)
            layer = row["kind"] if row["kind"] in ("literature", "fitted") else "seeds"
            if (key, layer) in layers_seen and layers_seen[key, layer][0] == file:
                reader.problem(file, line, keys[0], f"{' '.join(key)} is already given on line {layers_seen[key, layer][1]}"
                               + (" (one row per key in each layer: the seeds', the literature's and the fitted)" if key in keys_seen else ""))
                continue
            layers_seen[key, layer] = (file, line)
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
                ok, state = finding_state(file, line, by_name[node], row["state"])
                if not ok:
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
                ok, state = finding_state(file, line, by_name[node], row["state"])
                if not ok:
                    continue
                parent = row["condition"]
            param = _read_parameter(reader, file, role, line, row, node, parent, state, scale)
            if param is not None:
                params.append(param)

    params, set_aside = _apply_literature(reader, params, literature)
    rows_given = {key for key in keys_seen if literature or (key, "seeds") in layers_seen}
    _check_structure(reader, nodes, params, rows_given)
    _check_ordered(reader, nodes, params)
    no_effect = _read_cells(reader, nodes, params, rows_given, set_aside)
    if reader.problems:
        raise KnowledgeBaseError(reader.problems)
    return KnowledgeBase(path, tuple(nodes), tuple(params), tuple(scale.values()), no_effect, tuple(set_aside),
                         literature)


def _apply_literature(reader: _Reader, params: list[Parameter], use: bool) -> tuple[list[Parameter], list[Parameter]]:
    """The rows in use and the rows set aside: a literature row replaces the seeds' row of its key
    (and must say why in its note), or is itself set aside when the literature is not used. A
    ``fitted`` row replaces the rows of its key whatever the layer (it was fitted from them); it
    must stand beside the row it was fitted from."""
    def key(p: Parameter) -> tuple:
        return (p.role, p.node, p.parent, p.state)

    fitted = {key(p): p for p in params if p.kind == "fitted"}
    if fitted:
        others = {key(p) for p in params if p.kind != "fitted"}
        for k, p in fitted.items():
            if k not in others:
                reader.problem(p.file, p.line, "kind", f"a fitted row of {p.name} must stand beside the row it was "
                               "fitted from (its prior: kind, source and quote)")
        rest = [p for p in params if p.kind != "fitted"]
        in_use, set_aside = _apply_literature(reader, rest, use)
        in_use = [fitted[key(p)] if key(p) in fitted else p for p in in_use]
        set_aside = set_aside + [p for p in rest if key(p) in fitted and p not in set_aside]
        return in_use, set_aside

    excerpts = {f.stem for f in (reader.path / SOURCES).glob("*") if f.is_file()} if (reader.path / SOURCES).is_dir() else set()
    seeds = {key(p): p for p in params if p.kind != "literature"}
    replaced = {key(p) for p in params if p.kind == "literature"} if use else set()
    in_use, set_aside = [], []
    for p in params:
        if p.kind == "literature":
            if Path(p.source).stem not in excerpts:
                reader.problem(p.file, p.line, "source", f"{p.source!r} is not an excerpt in {reader.path / SOURCES}"
                               + (f"; stored: {', '.join(sorted(excerpts)[:8])}, ..." if excerpts else ""))
            if key(p) in seeds and not p.note:
                reader.problem(p.file, p.line, "note", f"a literature row beside the seeds' row of {p.name} "
                               f"({seeds[key(p)].file}:{seeds[key(p)].line}) must say in its note why it replaces it")
            (in_use if use else set_aside).append(p)
        else:
            (set_aside if key(p) in replaced else in_use).append(p)
    return in_use, set_aside


def _read_cells(reader: _Reader, nodes: list[NodeSpec], params: list[Parameter], rows_given: set[tuple[str, ...]],
                set_aside: list[Parameter]) -> tuple[tuple[str, str], ...]:
    """``cells.csv``: a finding x condition grid in which every cell is ``link`` or ``-`` (no effect).

    It must agree with ``links.csv`` cell by cell, so that no pair is left undecided. A row of
    ``links.csv`` that is present but invalid has been reported already and counts as present. A
    ``link`` cell whose only rows are literature rows set aside is at the leak.
    """
    file = "cells.csv"
    conditions = [n.name for n in nodes if n.type == "condition"]
    findings = {n.name for n in nodes if n.type == "finding"}
    linked = {(p.node, p.parent) for p in params if p.role == "link"}
    linked |= {(key[0], key[2]) for key in rows_given if len(key) == 3 and key[0] in findings and key[2] in conditions}
    links_clean = not any(p.file == "links.csv" for p in reader.problems)  # else its rows were reported already
    literature_only = {(p.node, p.parent) for p in set_aside if p.role == "link" and p.kind == "literature"} - linked
    rows = reader.rows(file, ("finding", *conditions))
    if file in reader.unreadable:
        return ()
    no_effect: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line, row in rows:
        finding = row["finding"]
        if finding not in findings:
            close = suggest(finding, sorted(findings))
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            reader.problem(file, line, "finding", f"{finding!r} is not a finding of nodes.csv{hint}")
            continue
        if finding in seen:
            reader.problem(file, line, "finding", f"{finding} has two rows")
            continue
        seen.add(finding)
        for condition in conditions:
            cell = row[condition]
            has_row = (finding, condition) in linked
            if cell == CELL_LINK and not has_row and (finding, condition) in literature_only:
                no_effect.append((finding, condition))
            elif cell == CELL_LINK and not has_row and links_clean:
                reader.problem(file, line, condition, f"{finding} x {condition} says {CELL_LINK!r} but links.csv has no row for it")
            elif cell == CELL_NONE and has_row:
                reader.problem(file, line, condition, f"{finding} x {condition} says {CELL_NONE!r} (no effect) but links.csv has a row for it")
            elif cell not in (CELL_LINK, CELL_NONE):
                reader.problem(file, line, condition, f"expected {CELL_LINK!r} (a row in links.csv) or {CELL_NONE!r} "
                               f"(no effect beyond the leak), got {cell!r}")
            elif cell == CELL_NONE:
                no_effect.append((finding, condition))
    for finding in sorted(findings - seen):
        reader.problem(file, None, "finding", f"{finding} has no row: every finding x condition cell must be decided")
    return tuple(no_effect)


def _check_ordered(reader: _Reader, nodes: list[NodeSpec], params: list[Parameter]) -> None:
    """An ordered finding's leak and each cause's row are distributions, and a cause can only raise
    the finding (the noisy-MAX constraint): with cumulative probabilities ``T(<= s)`` of a cause
    alone and ``L(<= s)`` of the leak, ``T(<= s) <= L(<= s)`` and ``T(<= s) / L(<= s)`` never
    decreases with ``s``.
    """
    for node in nodes:
        if not node.ordered:
            continue
        rows: dict[str | None, dict[str, Parameter]] = defaultdict(dict)
        for p in params:
            if p.node == node.name and p.role in ("finding_leak", "link"):
                rows[p.parent][p.state] = p  # type: ignore[index]
        leak = rows.get(None)
        if not leak or len(leak) != len(node.states) - 1:
            reader.problem("finding_leaks.csv", None, "state", f"{node.name} needs a leak row for each of "
                           f"{', '.join(node.states[1:])}")
            continue
        leak_cdf = _cdf(node, leak, None)
        if leak_cdf is None or leak_cdf[0] <= 0:
            first = next(iter(leak.values()))
            reader.problem(first.file, first.line, "value", f"the leak rows of {node.name} sum to 1 or more; "
                           f"the lowest state {node.states[0]} needs a probability above 0")
            continue
        for cause, given in rows.items():
            if cause is None:
                continue
            first = next(iter(given.values()))
            cdf = _cdf(node, given, leak)
            if cdf is None:
                reader.problem(first.file, first.line, "value", f"the rows of {node.name} <- {cause} sum to more than 1")
                continue
            ratio = cdf / leak_cdf
            if np.any(ratio > 1 + ORDERED_SLACK) or np.any(np.diff(ratio) < -ORDERED_SLACK):
                reader.problem(first.file, first.line, "value",
                               f"{node.name} <- {cause}: a cause can only raise an ordered finding; its cumulative "
                               f"probabilities {np.round(cdf, 4).tolist()} must stay at or below the leak's "
                               f"{np.round(leak_cdf, 4).tolist()} with a ratio that never decreases")


def _cdf(node: NodeSpec, rows: dict[str | None, Parameter], leak: dict[str | None, Parameter] | None) -> np.ndarray | None:
    """P(Y <= s) for every state but the highest, from rows for some states above the lowest (a state
    without a row takes the leak's value; the lowest is the complement)."""
    fallback = {s: (leak[s].value if leak and s in leak else 0.0) for s in node.states[1:]}
    probs = np.array([0.0] + [rows[s].value if s in rows else fallback[s] for s in node.states[1:]])
    probs[0] = 1.0 - math.fsum(probs[1:])
    if probs[0] < -1e-12:
        return None
    return np.cumsum(np.maximum(probs, 0.0))[:-1]


def _check_structure(reader: _Reader, nodes: list[NodeSpec], params: list[Parameter],
                     rows_given: set[tuple[str, ...]]) -> None:
    """Checks across files: every table complete, priors summing to one, values above leaks.

    A row that is present but invalid has been reported already, so its absence is not reported again.
    """
    leaks = {p.node: p for p in params if p.role in ("condition_leak", "finding_leak") and p.state is None}
    ordered = {n.name for n in nodes if n.ordered}
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
        elif node.ordered:
            continue  # its leak rows are checked with its links (_check_ordered)
        elif node.name not in leaks and not rows_given & {(node.name,), (node.name, ""), (node.name, "present")}:
            file = "condition_priors.csv" if node.type == "condition" else "finding_leaks.csv"
            if file not in reader.unreadable:
                reader.problem(file, None, node.type, f"{node.name} has no row")
    for p in leaks.values():
        if p.value >= 1.0:
            reader.problem(p.file, p.line, "value", f"a leak must be below 1, got {p.value}")
    findings = {n.name for n in nodes if n.type == "finding"}
    linked = {p.node for p in params if p.role == "link"} | {key[0] for key in rows_given
                                                             if len(key) == 3 and key[0] in findings}
    for node in nodes:
        if node.type == "finding" and node.name not in linked and "links.csv" not in reader.unreadable:
            reader.problem("links.csv", None, "finding", f"{node.name} has no cause: add at least one link")
    for p in params:
        if p.role in ("link", "risk_factor") and p.node in leaks and p.node not in ordered:
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
