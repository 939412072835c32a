"""``scripts/loadtest.py`` runs: a short load on a server it starts itself, with figures that add up."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import SCRIPTS

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")


def test_a_short_load_test_answers_every_request_and_reports_its_figures():
    result = subprocess.run([sys.executable, str(SCRIPTS / "loadtest.py"), "--clients", "5", "--duration", "2", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    assert figures["clients"] == 5 and figures["errors"] == 0 and figures["requests"] > 0
    assert figures["requests_per_s"] == pytest.approx(figures["requests"] / figures["duration_s"], rel=0.01)
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
