"""Shared fixtures: the shipped model, the small test model, and a copier for broken knowledge bases."""
from __future__ import annotations

import importlib.util
import shutil
import signal
import sys
from types import ModuleType
from pathlib import Path

import pytest

import bayesnet

DATA = Path(__file__).parent / "data"
SMALL = DATA / "small"
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="session")
def model() -> bayesnet.Model:
    """The shipped diagnostic model."""
    return bayesnet.load()


@pytest.fixture(scope="session")
def small_model() -> bayesnet.Model:
    """A five-node-per-layer model whose answers are easy to check by hand."""
    return bayesnet.load(SMALL)


@pytest.fixture()
def small_copy(tmp_path: Path) -> Path:
    """A writable copy of the small knowledge base, for tests that break it on purpose."""
    target = tmp_path / "priors"
    shutil.copytree(SMALL, target)
    return target


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` as a module (registered in sys.modules, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def default_sigint() -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: the child takes SIGINT as a user's Ctrl-C even when the
    tests were started with SIGINT ignored (``nohup ... &`` without job control), which a child
    inherits and Python keeps."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
