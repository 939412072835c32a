"""bayesnet runs whatever is writable: numba's cache where it can be, in memory otherwise (issue 14).

With ``numba.njit(cache=True)``, importing bayesnet as an account that can write neither beside the
installed package nor in a home folder failed with ``RuntimeError: cannot cache function '_rescale':
no locator available``. :mod:`bayesnet.inference.jit` compiles such functions in memory instead, with one
line on standard error.

The first test here checks that fallback in this process. The others reproduce the real setting:
as root, the package is installed from a wheel of this checkout into a fresh virtual environment
(with a Python that every account can run) which the account ``nobody`` cannot write, and
``bayesnet query trauma=present`` runs as ``nobody`` with no writable home, with a writable home,
and with ``NUMBA_CACHE_DIR``. Building the environment takes about a minute and each run without a
cache compiles the kernel (10-20 s), so they are marked slow: ``.ci/run`` runs them in a step of
their own (``python -m pytest -m slow tests/test_install_permissions.py``).
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numba.core.caching
import pytest

from bayesnet.inference import jit

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["bayesnet", "query", "trauma=present"]
#: Pythons to build the environment with: this one, then the system's (an account other than root
#: may not be able to run this one, e.g. under /root/.pyenv)
CANDIDATES = [sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"]


# ---------------------------------------------------------------------------- in this process
def test_no_writable_cache_compiles_in_memory_with_one_line(monkeypatch, capsys):
    caching = numba.core.caching
    implementation = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # _CacheImpl in older numba
    monkeypatch.setattr(implementation, "_locator_classes", [])  # numba finds no writable folder
    monkeypatch.setattr(jit, "_warned", False)

    def add(a, b):
        return a + b

    compiled = [jit.njit(nogil=True)(add), jit.njit()(add)]
    assert [f(2, 3) for f in compiled] == [5, 5]
    assert capsys.readouterr().err == jit.NO_CACHE_MESSAGE  # one line, once per process
    assert jit.NO_CACHE_MESSAGE.count("\n") == 1


# ---------------------------------------------------------------------------- installed, run as nobody
def _nobody() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no account 'nobody' to run the command as")
    return entry.pw_uid, entry.pw_gid


def _as_nobody(command: list[str], env: dict[str, str], cwd: Path, timeout: float = 300
               ) -> subprocess.CompletedProcess:
    uid, gid = _nobody()
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _base_env(bin_dir: Path) -> dict[str, str]:
    """A clean environment: no HOME, no numba or XDG settings; OpenBLAS settings kept if the machine has them."""
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _python_for_everyone(cwd: Path) -> str:
    """A Python that ``nobody`` can run and that can build a virtual environment."""
    check = "import ensurepip, sys, venv; assert sys.version_info >= (3, 10)"
    for candidate in CANDIDATES:
        if os.path.exists(candidate):
            env = {"PATH": "/usr/bin:/bin"}
            if _as_nobody([candidate, "-c", check], env, cwd, timeout=60).returncode == 0:
                return candidate
    pytest.skip(f"no Python that the account nobody can run, with venv and ensurepip, among {CANDIDATES}")


@pytest.fixture(scope="module")
def installed():
    """``(folder, venv/bin)``: this checkout installed, as root, into a fresh virtual environment in a
    world-readable folder that nobody can write."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root: installs the package as root and runs it as the account nobody")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to run a command as the account nobody")
    _nobody()
    folder = Path(tempfile.mkdtemp(prefix="bayesnet-install-"))
    try:
        folder.chmod(0o755)
        python = _python_for_everyone(folder)
        wheels = folder / "wheels"
        step = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
                              capture_output=True, text=True)
        assert step.returncode == 0, step.stderr[-2000:]
        (wheel,) = wheels.glob("bayesnet-*.whl")
        venv = folder / "venv"
        step = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True, text=True)
        assert step.returncode == 0, step.stderr[-2000:]
        step = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                              capture_output=True, text=True, timeout=1200)
        assert step.returncode == 0, step.stderr[-2000:]
        subprocess.run(["chmod", "-R", "a+rX,go-w", str(venv)], check=True)
        package = next((venv / "lib").glob("python3*/site-packages/bayesnet"))
        denied = _as_nobody(["test", "-w", str(package)], {"PATH": "/usr/bin:/bin"}, folder)
        assert denied.returncode != 0, "nobody can write beside the installed package: the test would prove nothing"
        yield folder, venv / "bin"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _differential(text: str) -> dict[str, tuple[float, ...]]:
    """The table the command prints, as condition -> (posterior, prior, ratio); the fresh environment may
    have other pandas and numpy releases than this one, so the numbers are compared, not the layout."""
    header, *rows = text.splitlines()
    assert header.split() == ["condition", "posterior", "prior", "ratio"], header
    ranked = [cells for cells in (row.split() for row in rows) if cells and cells[0].isdigit()]
    assert len(ranked) == len(rows) - 1 and rows[-1].startswith("no modelled condition:"), text
    return {cells[1]: tuple(float(x) for x in cells[2:]) for cells in ranked}


def _same_differential(text: str, expected: dict[str, tuple[float, ...]]) -> bool:
    table = _differential(text)
    return table.keys() == expected.keys() and all(
        abs(a - b) <= 0.011 if i == 2 else abs(a - b) <= 1.5e-4  # printed to 2 and 4 decimals
        for name in table for i, (a, b) in enumerate(zip(table[name], expected[name])))


@pytest.fixture(scope="module")
def expected() -> dict[str, tuple[float, ...]]:
    """What the command prints, run here from this checkout's environment."""
    result = subprocess.run([sys.executable, "-m", "bayesnet", *COMMAND[1:]], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return _differential(result.stdout)


def _writable_by_nobody(folder: Path, name: str) -> Path:
    path = folder / name
    path.mkdir()
    uid, gid = _nobody()
    os.chown(path, uid, gid)
    return path


def _index_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.nbi"))


@pytest.mark.slow
@pytest.mark.parametrize("home", [None, "/"], ids=["home-unset", "home-root"])
def test_no_writable_home_answers_with_one_line_on_stderr(installed, expected, home):
    folder, bin_dir = installed
    env = _base_env(bin_dir)
    if home is not None:
        env["HOME"] = home
    result = _as_nobody(COMMAND, env, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _same_differential(result.stdout, expected), result.stdout
    assert result.stderr == jit.NO_CACHE_MESSAGE
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_writable_home_caches_and_a_second_process_loads_the_cache(installed, expected):
    folder, bin_dir = installed
    home = _writable_by_nobody(folder, "home")
    env = {**_base_env(bin_dir), "HOME": str(home)}
    start = time.perf_counter()
    first = _as_nobody(COMMAND, env, folder)
    first_seconds = time.perf_counter() - start
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stderr == ""
    assert _same_differential(first.stdout, expected), first.stdout
    cache = home / ".cache" / "numba"
    assert _index_files(cache), f"no numba index files under {cache} after the first run"

    start = time.perf_counter()
    second = _as_nobody(COMMAND, {**env, "NUMBA_DEBUG_CACHE": "1"}, folder)
    second_seconds = time.perf_counter() - start
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr == ""
    log = [line for line in second.stdout.splitlines(keepends=True) if line.startswith("[cache]")]
    assert "".join(line for line in second.stdout.splitlines(keepends=True) if line not in log) == first.stdout
    assert any(line.startswith("[cache] data loaded from") for line in log), log
    assert not any(line.startswith("[cache] data saved to") for line in log), log  # nothing compiled again
    print(f"bayesnet {' '.join(COMMAND[1:])} as nobody, writable home: first run {first_seconds:.1f} s, "
          f"second run {second_seconds:.1f} s")


@pytest.mark.slow
def test_numba_cache_dir_is_used_when_set(installed, expected):
    folder, bin_dir = installed
    cache = _writable_by_nobody(folder, "numba-cache")
    result = _as_nobody(COMMAND, {**_base_env(bin_dir), "NUMBA_CACHE_DIR": str(cache)}, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert _same_differential(result.stdout, expected), result.stdout
    assert _index_files(cache), f"no numba index files in NUMBA_CACHE_DIR={cache}"
