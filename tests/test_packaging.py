"""A wheel built from the checkout carries the knowledge base, so ``pip install .`` works anywhere."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_every_priors_file(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("bayesnet-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (p for p in (ROOT / "priors").rglob("*") if p.is_file()):
        name = path.relative_to(ROOT / "priors").as_posix()
        assert f"bayesnet/priors/{name}" in names, name
    assert "bayesnet/model.py" in names
    static = ROOT / "bayesnet" / "web" / "static"
    assets = [p.relative_to(ROOT).as_posix() for p in static.rglob("*") if p.is_file()]
    assert {"bayesnet/web/static/index.html", "bayesnet/web/static/app.js"} <= set(assets)
    for name in assets:
        assert name in names, f"the page's asset {name} is not in the wheel"
