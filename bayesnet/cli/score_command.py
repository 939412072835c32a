"""``bayesnet score``: score a CSV file of cases, streaming it in chunks.

The posteriors are written chunk by chunk to a temporary file beside the output, which takes the
output's name only when every chunk has been scored: a failed or stopped run leaves no half-written
table and the previous output as it was (see :mod:`bayesnet.cli.output`; a device or a FIFO is written
directly).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING

from bayesnet.cli.arguments import positive_int
from bayesnet.cli.output import OutputFile, check_output_name
from bayesnet.cohort.files import ParquetSink, count_parquet_rows, is_parquet, score_parquet
from bayesnet.cohort.scoring import CHUNKSIZE, ON_ERROR, empty_errors, empty_scores, score_csv
from bayesnet.errors import OutputError

if TYPE_CHECKING:  # pragma: no cover
    from bayesnet.model import Model

__all__ = ["add_score_arguments", "cmd_score"]

#: problems printed on standard error when skipped rows are not written to an --errors file
SHOWN_PROBLEMS = 20


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``bayesnet score``."""
    parser.add_argument("cases", metavar="CASES.csv",
                        help="one case per line; a header of node names; cells are states, empty if unobserved "
                             "(a name ending .parquet or .pq is read as Parquet)")
    parser.add_argument("-o", "--output", metavar="FILE", required=True,
                        help="where to write the posteriors ('-' for standard output; Parquet if the name ends "
                             ".parquet or .pq)")
    parser.add_argument("--on-error", choices=ON_ERROR, default="raise",
                        help="a row that cannot be scored stops the run (raise, the default) or is skipped "
                             "and reported (skip)")
    parser.add_argument("--errors", metavar="FILE",
                        help="write every skipped row's problem here (row, column, value, message)")
    parser.add_argument("--chunksize", type=positive_int, default=CHUNKSIZE, metavar="N",
                        help=f"rows read and scored at a time (default {CHUNKSIZE}); memory grows with it")
    parser.add_argument("--id", dest="id_column", metavar="COLUMN",
                        help="a column of case identifiers, copied to the output (default: the row number)")
    parser.add_argument("--no-log-evidence", dest="log_evidence", action="store_false",
                        help="leave out the log_evidence column")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar on standard error (default: when it is a terminal)")
    parser.add_argument("--metadata", metavar="FILE",
                        help="also write a JSON record of the run: the knowledge base's version and content hash, "
                             "the files, the options and the counts")


def _count_rows(path: str) -> int | None:
    """Lines after the header, counted in binary blocks (for the progress bar's total)."""
    count, last = 0, b"\n"
    if not os.path.isfile(path):  # a FIFO or standard input can be read only once
        return None
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                count, last = count + block.count(b"\n"), block
    except OSError:
        return None
    return max(0, count - 1 + (0 if last.endswith(b"\n") else 1))


class _Sink:
    """A CSV table written chunk by chunk to an :class:`~bayesnet.cli.output.OutputFile`."""

    def __init__(self, name: str, index: bool = True, what: str = "output"):
        self.file = OutputFile(name, what)
        self.index = index
        self.header = True

    def write(self, frame) -> None:
        self.file.write(frame.to_csv(header=self.header, index=self.index, lineterminator="\n"))
        self.header = False

    def commit(self) -> None:
        self.file.commit()

    def discard(self) -> None:
        self.file.discard()


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse unusable output names before any case is read: empty, a directory, or two outputs in one file."""
    named = [("-o", args.output, "output"), ("--errors", args.errors, "errors file"),
             ("--metadata", args.metadata, "metadata file")]
    named = [(option, name, what) for option, name, what in named if name is not None]
    for _, name, what in named:
        check_output_name(name, what)
    seen: dict[str, str] = {}
    for option, name, _ in named:
        where = "-" if name == "-" else os.path.realpath(name)
        if where in seen:
            same = "standard output ('-')" if name == "-" else f"the same file ({name})"
            raise OutputError(f"{seen[where]} and {option} both name {same}; give each output its own file")
        seen[where] = option


def cmd_score(model: Model, args: argparse.Namespace) -> int:
    """Score ``args.cases`` into ``args.output``; see :func:`bayesnet.cohort.score_csv`."""
    _check_outputs(args)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = None
    if show:
        from tqdm import tqdm

        total = count_parquet_rows(args.cases) if is_parquet(args.cases) else _count_rows(args.cases)
        bar = tqdm(total=total, unit=" cases", desc="scoring", file=sys.stderr, dynamic_ncols=True)
    sinks: list[_Sink | OutputFile] = []
    scored = skipped = 0
    problems = 0
    shown: list[str] = []
    try:
        output = ParquetSink(args.output) if is_parquet(args.output) else _Sink(args.output)
        sinks.append(output)
        errors = _Sink(args.errors, index=args.id_column is not None, what="errors file") if args.errors else None
        if errors is not None:
            sinks.append(errors)
        metadata = OutputFile(args.metadata, "metadata file") if args.metadata else None
        if metadata is not None:
            sinks.append(metadata)
        read = score_parquet if is_parquet(args.cases) else score_csv
        for chunk in read(model, args.cases, chunksize=args.chunksize, on_error=args.on_error,
                          log_evidence=args.log_evidence, id_column=args.id_column):
            output.write(chunk.posteriors)
            scored += len(chunk.posteriors)
            skipped += chunk.skipped
            problems += len(chunk.errors)
            if errors is not None:
                errors.write(chunk.errors)
            elif len(shown) < SHOWN_PROBLEMS:
                shown += chunk.errors["message"].tolist()[: SHOWN_PROBLEMS - len(shown)]
            if bar is not None:
                bar.update(len(chunk.posteriors) + chunk.skipped)
        if output.header:  # no data rows: still write the header
            output.write(empty_scores(model, log_evidence=args.log_evidence).rename_axis(args.id_column or "row"))
        if errors is not None and errors.header:
            errors.write(empty_errors().rename_axis(args.id_column))
        if metadata is not None:
            metadata.write(json.dumps(_metadata(model, args, scored, skipped), indent=2) + "\n")
        for sink in sinks:
            sink.commit()
    except BaseException:  # an error, KeyboardInterrupt or a stopping signal: no half-written file stays
        for sink in sinks:
            sink.discard()
        raise
    finally:
        if bar is not None:
            bar.close()
    _report(model, scored, skipped, problems, shown, args, sys.stderr)
    return 0


def _metadata(model: Model, args: argparse.Namespace, scored: int, skipped: int) -> dict:
    """What ``--metadata`` records: enough to tell which knowledge base and which options produced the output."""
    from bayesnet import __version__

    return {
        "bayesnet": __version__,
        "knowledge_base": model.knowledge_base.as_dict(),
        "cases": args.cases,
        "output": args.output,
        "errors": args.errors,
        "id_column": args.id_column,
        "on_error": args.on_error,
        "log_evidence": args.log_evidence,
        "scored": scored,
        "skipped": skipped,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _report(model: Model, scored: int, skipped: int, problems: int, shown: list[str], args: argparse.Namespace,
            stream: IO[str]) -> None:
    where = "" if args.output == "-" else f" into {args.output}"
    print(f"bayesnet: scored {scored} case{'s' if scored != 1 else ''}{where} with the {model.knowledge_base}",
          file=stream)
    if not skipped:
        return
    print(f"bayesnet: skipped {skipped} case{'s' if skipped != 1 else ''} that could not be scored", file=stream,
          end="")
    if args.errors:
        print(f"; their problems are in {args.errors}", file=stream)
        return
    print(":", file=stream)
    for message in shown:
        print(f"  {message}", file=stream)
    if problems > len(shown):
        print(f"  ... and {problems - len(shown)} more; --errors FILE writes them all", file=stream)
