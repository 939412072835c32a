"""Bounded reading of a CSV file of cases: caps on columns, fields per line and line length.

A case file has one column per node and perhaps an identifier column, and a line of a few kilobytes
at most. :class:`GuardedCSV` passes a file through to the CSV parser unchanged while it counts, and
stops with an :class:`~bayesnet.errors.EvidenceError` naming the cap as soon as a line exceeds one,
without reading the rest of that line. The work and the memory a file can cost are therefore
bounded by the chunk size times :data:`MAX_LINE`, whatever the file holds.

The count follows the CSV quoting rules (a comma or a line break inside double quotes belongs to
the field), so it agrees with the parser on every well-formed file.
"""
from __future__ import annotations

import io
import re
from typing import IO

from bayesnet.errors import EvidenceError

__all__ = ["MAX_COLUMNS", "MAX_LINE", "GuardedCSV"]

#: the most columns a case file's header may have
MAX_COLUMNS = 10_000
#: the most bytes (characters, for a text stream) one line of a case file may have
MAX_LINE = 1 << 16

_SYMBOLS = {kind: (re.compile(k(r'[",]')), re.compile(k(r"(\r\n|\r|\n)")), k('"'), k(","), k("\r"), k("\n"))
            for kind, k in ((str, str), (bytes, lambda text: text.encode()))}
# where the scan is within a field: at its start, in an unquoted field, in a quoted field, or just
# after a quote inside a quoted field (the end of the quotes, or the first of an escaped pair "")
START, FIELD, QUOTED, QUOTE_IN_QUOTED = range(4)


class GuardedCSV(io.RawIOBase):
    """A binary (or text) file passed through unchanged, refusing a line that exceeds a cap.

    Parameters
    ----------
    handle
        The file, open for reading; bytes or text.
    name
        How messages name the file.
    max_columns, max_line
        The caps: fields in the header line, and bytes in any line. A data line may not have more
        fields than the header.
    owned
        Close ``handle`` on closing (for a file opened for the purpose).
    """

    def __init__(self, handle: IO, name: str, *, max_columns: int = MAX_COLUMNS, max_line: int = MAX_LINE,
                 owned: bool = True):
        super().__init__()
        self.handle = handle
        self.owned = owned
        self.name = name
        self.max_columns = max_columns
        self.max_line = max_line
        self.columns: int | None = None  # the header's field count, once its line has ended
        self.line = 1                    # the line being read (1-based; a quoted line break counts)
        self._fields = 1                 # fields begun in the current record
        self._length = 0                 # bytes (characters) of the current record read so far
        self._state = START
        self._after_cr = False

    # ------------------------------------------------------------------ file protocol
    def readable(self) -> bool:
        return True

    def read(self, size: int = -1):
        data = self.handle.read(size)
        if data:
            self._scan(data)
        return data

    def readinto(self, buffer) -> int:  # pragma: no cover - the parser calls read()
        data = self.read(len(buffer))
        if isinstance(data, str):
            raise TypeError("readinto needs a binary file")
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            if self.owned:
                self.handle.close()
        finally:
            super().close()

    # ------------------------------------------------------------------ counting
    def _scan(self, data) -> None:
        special, breaks, quote, comma, cr, lf = _SYMBOLS[type(data)]
        if self._after_cr and data[:1] == lf:  # the second half of a \r\n split between two reads
            data = data[1:]
        self._after_cr = data[-1:] == cr
        parts = breaks.split(data)  # text, line break, text, line break, ..., text
        for i in range(0, len(parts), 2):
            text = parts[i]
            if self._state in (QUOTED, QUOTE_IN_QUOTED) or quote in text:
                self._walk(text, special, quote)
            elif text:
                self._fields += text.count(comma)
                self._state = START if text[-1:] == comma else FIELD
            self._length += len(text)
            self._check()
            if i + 1 < len(parts):
                if self._state == QUOTED:  # a line break inside quotes belongs to the field
                    self._length += len(parts[i + 1])
                    if parts[i + 1] != cr:
                        self.line += 1
                    self._check()
                else:
                    self._end_record()

    def _walk(self, text, special, quote) -> None:
        """Follow the quoting rules through one line's worth of text (no line break in it)."""
        state, last = self._state, 0
        for match in special.finditer(text):
            at = match.start()
            if at > last:  # ordinary characters before this one
                state = FIELD if state in (START, QUOTE_IN_QUOTED) else state
            if match.group() == quote:
                state = {START: QUOTED, FIELD: FIELD, QUOTED: QUOTE_IN_QUOTED, QUOTE_IN_QUOTED: QUOTED}[state]
            elif state != QUOTED:  # a comma that separates fields
                self._fields += 1
                state = START
                if self._fields > self._cap():
                    self._state = state
                    self._check()
            last = match.end()
        if len(text) > last:
            state = FIELD if state in (START, QUOTE_IN_QUOTED) else state
        self._state = state

    def _end_record(self) -> None:
        if self.columns is None and (self._fields > 1 or self._length):
            self.columns = self._fields
        self.line += 1
        self._fields, self._length, self._state = 1, 0, START

    def _cap(self) -> int:
        return self.max_columns if self.columns is None else self.columns

    def _check(self) -> None:
        if self._fields > self._cap():
            if self.columns is None:
                raise EvidenceError(f"{self.name}: the header (line {self.line}) has more than {self.max_columns} "
                                    "columns, the most a case file may have (one column per node, and an id column)")
            raise EvidenceError(f"{self.name}: line {self.line} has more fields than the {self.columns} "
                                f"column{'s' if self.columns != 1 else ''} of the header")
        if self._length > self.max_line:
            raise EvidenceError(f"{self.name}: line {self.line} is longer than {self.max_line} bytes, the most a "
                                "line of a case file may have (one case per line: a state name per column)")
