"""Write a fitted knowledge base: the same folder, each updated record followed by its ``fitted`` row.

The folder is a copy of the one the model was loaded from. In each table, a record the cohort
informs keeps its row (kind, source, quote: the prior) and gains a row below it with the same key,
kind ``fitted``, the fitted value and its 95% interval as ``low`` and ``high``, the effective
counts ``n`` and ``N``, the cohort's name as ``source`` and a ``note`` saying how it was fitted
and from what prior. The loader uses the fitted row and sets the prior row aside, and
``bayesnet provenance`` shows both. Fitting a fitted folder again replaces its fitted rows (their
values were the prior of the new fit).
"""
from __future__ import annotations

import csv
import io

import shutil
from pathlib import Path

import pandas as pd

from bayesnet.errors import OutputError
from bayesnet.knowledge.base import KnowledgeBase, TABLES
from bayesnet.learning.fitting import FitResult

__all__ = ["write_fitted"]


def _number(x: float) -> str:
    return repr(float(x))                    # the shortest text that reads back as the same number


def _note(row: pd.Series, result: FitResult) -> str:
    stop = "converged" if result.converged else "stopped at the iteration limit"
    if "informed" in row.index and not row["informed"]:
        return (f"No case of the cohort {result.name} ({result.cases} cases) informs this number, but its effect's "
                f"leak, fitted to them, rose past its value {row['prior_value']:.6g}: it moved with the leak (no effect "
                f"beyond it) and keeps the rest of its range [{row['prior_low']:.6g}, {row['prior_high']:.6g}].")
    edge = " The value sits at the edge of its range: the cohort points beyond it." if row["at_edge"] else ""
    return (f"Fitted by EM (posterior mode) to the cohort {result.name} ({result.cases} cases; {result.iterations} "
            f"iterations, {stop}). Prior: {row['prior_kind']} {row['prior_value']:.6g} [{row['prior_low']:.6g}, "
            f"{row['prior_high']:.6g}] ({row['distribution']}); interval: 95% posterior. n/N: expected cases in "
            f"which this cause produced its effect, of those in which it could.{edge}")


def write_fitted(knowledge: KnowledgeBase, result: FitResult, folder: str | Path) -> Path:
    """Write the fitted knowledge base into ``folder`` (new or empty) and return its path."""
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(f"the output folder {target} must be new or empty")
    source = Path(knowledge.path)
    fitted = result.table[result.table["fitted"]]
    by_place = {(p.file, p.line): p for p in knowledge.parameters}
    shutil.copytree(source, target, dirs_exist_ok=True)
    for file in TABLES:
        path = source / file
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = list(reader.fieldnames or [])
        out_rows = []
        for row in reader:
            param = by_place.get((file, reader.line_num))
            if param is None or param.name not in fitted.index:
                out_rows.append(row)
                continue
            if param.kind != "fitted":
                out_rows.append(row)
            info = fitted.loc[param.name]
            new = dict(row)
            new.update(value=_number(info["value"]), low=_number(info["low"]), high=_number(info["high"]),
                       kind="fitted", source=result.name, quote="", phrase="", complement="",
                       n=str(int(info["n"])), N=str(int(info["N"])), note=_note(info, result))
            out_rows.append(new)
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(out_rows)
        (target / file).write_text(buffer.getvalue(), encoding="utf-8")
    version = (source / "VERSION").read_text(encoding="utf-8").strip() if (source / "VERSION").is_file() else "unversioned"
    (target / "VERSION").write_text(f"{version}+fitted\n", encoding="utf-8")
    return target



