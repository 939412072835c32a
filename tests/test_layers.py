"""The package's layers import only downwards: the layout is the architecture."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bayesnet"
#: layer -> the layers (and top-level modules) it must never import
FORBIDDEN = {
    "knowledge": {"inference", "analysis", "cohort", "learning", "cli", "model", "web"},
    "inference": {"analysis", "cohort", "learning", "cli", "model", "web"},
    "cohort": {"analysis", "learning", "cli", "model", "web"},
    "analysis": {"cli", "cohort", "learning", "web"},
    "learning": {"cli", "model", "web"},
    "web": {"cli"},
}


def imported(path: Path) -> set[str]:
    """The second component of every ``bayesnet.x`` module a file imports (anywhere in it)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bayesnet."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("bayesnet."))
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_does_not_import_the_layers_above_it(layer):
    files = sorted((PACKAGE / layer).glob("*.py"))
    assert files
    for path in files:
        wrong = imported(path) & FORBIDDEN[layer]
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {', '.join(sorted(wrong))}"


def test_no_module_is_left_in_the_flat_package_but_the_public_ones():
    flat = {p.name for p in PACKAGE.glob("*.py")}
    assert flat == {"__init__.py", "__main__.py", "errors.py", "model.py"}


def test_the_public_modules_do_not_import_the_web_layer_or_the_command_line():
    for name in ("__init__.py", "errors.py", "model.py"):
        wrong = imported(PACKAGE / name) & {"web", "cli"}
        assert not wrong, f"{name} imports {', '.join(sorted(wrong))}"


def test_the_command_line_imports_the_web_layer_only_when_serving():
    import subprocess
    import sys

    code = ("import sys, bayesnet.cli.main; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn') or m.startswith('bayesnet.web')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
