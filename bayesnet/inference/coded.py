"""Evidence as state codes: a cohort's cells as small integers, and the table that turns them into
likelihoods inside the compiled kernel.

A cohort holds hard evidence only, one state per cell. Its likelihood arrays need not be built in
memory (for 100,000 cases and some eighty engine rows that is over a hundred megabytes written and
read once): each cell is kept as its state's index, and the kernel writes one case's likelihoods
into a small buffer just before answering it.

Hard evidence on a node sets some likelihood entries to zero and leaves the others at one. A
:class:`CodeTable` lists, for each column of the cohort and each state, the positions it zeroes in a
case's *flat* likelihood vector: the context states (then the padding entry, always 0), the
conditions' ``(absent, present)`` pairs, then the engine rows' pairs. An ordered finding's state
zeroes one entry of each engine row it sets (a threshold absent, a step present). The population's
condition (some presenting finding is present) is applied after the cells, as
:func:`bayesnet.inference.evidence.apply_population` does: :attr:`CodeTable.population_row` gives,
for each set of presenting findings left unobserved, the engine row to set present.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bayesnet.inference.jit import njit
from bayesnet.knowledge.base import BINARY
from bayesnet.knowledge.network import NoisyOrNetwork

__all__ = ["BLANK", "CodeTable", "code_table", "fill_rows"]

#: the code of an empty (unobserved) cell
BLANK = -2


@dataclass(frozen=True, eq=False)
class CodeTable:
    """For each column and each of its states, the flat likelihood entries that state sets to zero.

    ``start`` ``(C, S + 1)``: column ``c`` in state ``s`` zeroes ``positions[start[c, s]:start[c, s + 1]]``
    (``S`` the most states of any column; a column's unused states have empty ranges). ``presenting``
    ``(P,)``: the presenting findings' engine rows; ``population_row`` ``(2**P,)``: for a set of them
    left unobserved (as bits), the engine row to set present (-1: none is left, the case is impossible).
    ``sizes``: the flat vector's context part (with the padding entry), conditions, engine rows.
    """

    columns: tuple[str, ...]
    states: tuple[tuple[str, ...], ...]
    start: np.ndarray
    positions: np.ndarray
    presenting: np.ndarray
    population_row: np.ndarray
    sizes: tuple[int, int, int]

    @property
    def width(self) -> int:
        """Length of one case's flat likelihood vector."""
        T1, n, m = self.sizes
        return T1 + 2 * n + 2 * m


def code_table(network: NoisyOrNetwork, columns: Sequence[str]) -> CodeTable:
    """The :class:`CodeTable` of cohort columns ``columns`` (node names, each once) on ``network``."""
    T1 = sum(len(s) for s in network.context_states) + 1
    n, m = len(network.conditions), len(network.findings)
    finding_at = T1 + 2 * n
    context_at = np.cumsum([0, *(len(s) for s in network.context_states)])
    kidx = {k: a for a, k in enumerate(network.context)}
    cidx = {c: j for j, c in enumerate(network.conditions)}
    fidx = {f: i for i, f in enumerate(network.findings[:network.binary_count])}
    zeroes: list[list[list[int]]] = []
    states: list[tuple[str, ...]] = []
    for column in columns:
        ordered = network.ordered_finding(column)
        if column in kidx:
            k = kidx[column]
            names = network.context_states[k]
            base = int(context_at[k])
            zeroes.append([[base + t for t in range(len(names)) if t != s] for s in range(len(names))])
        elif ordered is not None:
            names = ordered.states
            zeroes.append([[finding_at + 2 * row + (1 - row_state) for row, row_state in ordered.rows(s)]
                           for s in range(len(names))])
        else:
            names = BINARY
            base = T1 + 2 * cidx[column] if column in cidx else finding_at + 2 * fidx[column]
            zeroes.append([[base + 1 - s] for s in range(2)])
        states.append(tuple(names))
    widest = max((len(s) for s in states), default=0)
    start = np.zeros((len(columns), widest + 1), dtype=np.int64)
    positions: list[int] = []
    for c, per_state in enumerate(zeroes):
        for s in range(widest):
            start[c, s] = len(positions)
            if s < len(per_state):
                positions.extend(per_state[s])
        start[c, widest] = len(positions)
    presenting = np.array(network.presenting, dtype=np.int64)
    population_row = np.full(1 << len(presenting), -1, dtype=np.int64)
    for mask in range(1, len(population_row)):
        members = tuple(int(presenting[p]) for p in range(len(presenting)) if mask >> p & 1)
        population_row[mask] = members[0] if len(members) == 1 else network.population_rows[members]
    return CodeTable(tuple(columns), tuple(states), start, np.array(positions, dtype=np.int64), presenting,
                     population_row, (T1, n, m))


def fill_rows(table: CodeTable, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense likelihoods for codes ``(C, N)``: context ``(N, T + 1)`` (padding entry last), conditions
    ``(N, n, 2)`` and engine rows ``(N, m, 2)``, exactly as the kernel fills them."""
    T1, n, m = table.sizes
    flat = np.empty((codes.shape[1], table.width))
    _fill_many(codes, table.start, table.positions, table.presenting, table.population_row, T1 + 2 * n, T1, flat)
    return flat[:, :T1], flat[:, T1:T1 + 2 * n].reshape(-1, n, 2), flat[:, T1 + 2 * n:].reshape(-1, m, 2)


@njit(nogil=True)
def fill_row(codes, i, start, positions, presenting, population_row, finding_at, pad, flat):
    """Case ``i``'s flat likelihoods into ``flat``: ones, the padding entry 0, each observed cell's
    zeros, then the population's condition (a presenting finding present)."""
    flat[:] = 1.0
    flat[pad - 1] = 0.0
    for c in range(codes.shape[0]):
        s = codes[c, i]
        if s >= 0:
            for z in range(start[c, s], start[c, s + 1]):
                flat[positions[z]] = 0.0
    if presenting.shape[0] == 0:
        return
    unobserved = 0
    for p in range(presenting.shape[0]):
        at = finding_at + 2 * presenting[p]
        if flat[at] == 0.0 and flat[at + 1] > 0.0:
            return
        if flat[at] == flat[at + 1]:
            unobserved |= 1 << p
    row = population_row[unobserved]
    if row < 0:
        at = finding_at + 2 * presenting[0]
        flat[at] = 0.0
        flat[at + 1] = 0.0
    else:
        flat[finding_at + 2 * row] = 0.0
        flat[finding_at + 2 * row + 1] = 1.0


@njit(nogil=True)
def _fill_many(codes, start, positions, presenting, population_row, finding_at, pad, flat):
    for i in range(codes.shape[1]):
        fill_row(codes, i, start, positions, presenting, population_row, finding_at, pad, flat[i])
