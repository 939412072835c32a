"""Static checks: pyflakes finds no unused or undefined names in the package, the scripts or the tests.

A name imported only to check that a package is installed says so with ``# noqa`` on its line.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pyflakes_api = pytest.importorskip("pyflakes.api", reason="pyflakes is part of the test extra")
from pyflakes import reporter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class _Collect(reporter.Reporter):
    def __init__(self):
        self.found: list[str] = []

    def unexpectedError(self, filename, message):
        self.found.append(f"{filename}: {message}")

    def syntaxError(self, filename, message, lineno, offset, text):
        self.found.append(f"{filename}:{lineno}: {message}")

    def flake(self, message):
        line = Path(message.filename).read_text().splitlines()[message.lineno - 1]
        if "# noqa" not in line:
            self.found.append(str(message))


@pytest.mark.parametrize("folder", ["bayesnet", "scripts", "tests"])
def test_pyflakes_finds_nothing(folder):
    collected = _Collect()
    files = sorted(str(p) for p in (ROOT / folder).rglob("*.py"))
    assert files
    pyflakes_api.checkRecursive(files, collected)
    assert not collected.found, "\n".join(collected.found)


def test_the_check_sees_an_unused_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nimport sys  # noqa: F401\nprint(undefined_name)\n")
    collected = _Collect()
    pyflakes_api.checkRecursive([str(sample)], collected)
    assert len(collected.found) == 2
    assert "'os' imported but unused" in collected.found[0] and "undefined name" in collected.found[1]
