"""Where ``bayesnet score`` writes, and how it stops: output is published whole or not at all."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import bayesnet.cli.score_command as score_command
from bayesnet.cli import main
from conftest import SMALL, default_sigint

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    except KeyboardInterrupt:  # escaped: a failure of the test, not the end of the test session
        code = "KeyboardInterrupt escaped"
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def cases(tmp_path: Path) -> Path:
    path = tmp_path / "cases.csv"
    path.write_text("case_id,trauma,age_band\na,present,child\nb,absent,\n", encoding="utf-8")
    return path


def score(capsys, cases: Path, output: str, *more: str) -> tuple[int, str, str]:
    return run(capsys, "--priors", str(SMALL), "score", str(cases), "--id", "case_id", "-o", output, *more)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


# ---------------------------------------------------------------------------- names that cannot be written
def test_an_empty_output_name_is_one_clear_line(capsys, cases):
    code, out, err = score(capsys, cases, "")
    assert code == 2 and out == ""
    assert err == "bayesnet: error: the output file name is empty; give a file name, or '-' for standard output\n"


def test_an_output_naming_a_directory_leaves_no_partial_file(capsys, cases, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    code, _, err = score(capsys, cases, str(folder))
    assert code == 2 and err == f"bayesnet: error: the output {folder} is a directory; give the name of a file to write\n"
    assert leftovers(tmp_path) == [] and list(folder.iterdir()) == []


def test_output_and_errors_file_must_differ(capsys, cases, tmp_path):
    target = str(tmp_path / "out.csv")
    code, _, err = score(capsys, cases, target, "--errors", target)
    assert code == 2 and err == (f"bayesnet: error: -o and --errors both name the same file ({target}); "
                                 "give each output its own file\n")
    code, _, err = score(capsys, cases, "-", "--errors", "-")
    assert code == 2 and "-o and --errors both name standard output ('-')" in err
    code, _, err = score(capsys, cases, target, "--metadata", str(tmp_path / "." / "out.csv"))
    assert code == 2 and "-o and --metadata both name the same file" in err


def test_a_missing_folder_is_named_with_the_output(capsys, cases, tmp_path):
    target = tmp_path / "no" / "such" / "out.csv"
    code, _, err = score(capsys, cases, str(target))
    assert code == 2 and err == f"bayesnet: error: cannot write {target}: No such file or directory\n"


# ---------------------------------------------------------------------------- what is not a regular file
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_device_is_written_directly_and_a_full_disk_exits_2(capsys, cases, tmp_path):
    link = tmp_path / "full.csv"
    link.symlink_to("/dev/full")
    code, out, err = score(capsys, cases, str(link))
    assert code == 2 and err == f"bayesnet: error: cannot write {link}: No space left on device\n"
    assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert leftovers(tmp_path) == []


def test_a_fifo_is_written_directly_and_stays_a_fifo(capsys, cases, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    code, _, err = score(capsys, cases, str(fifo))
    reader.join(10)
    assert code == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received[0].splitlines()[0] == "case_id,myositis_ossificans,fop,calcinosis,log_evidence"
    assert len(received[0].splitlines()) == 3 and leftovers(tmp_path) == []


def test_standard_output_through_a_link_is_never_renamed_over(cases, tmp_path):
    link = tmp_path / "out.csv"
    link.symlink_to("/dev/stdout")
    captured = tmp_path / "captured.txt"
    with captured.open("w") as stdout:
        stdout.write("before\n")
        stdout.flush()
        done = subprocess.run([sys.executable, "-m", "bayesnet", "--priors", str(SMALL), "score", str(cases),
                               "--id", "case_id", "-o", str(link)], stdout=stdout, stderr=subprocess.PIPE,
                              text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == "/dev/stdout"
    lines = captured.read_text().splitlines()
    assert lines[0] == "before" and lines[1].startswith("case_id,") and len(lines) == 4


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_standard_output_on_a_full_disk_exits_2_with_one_line(tmp_path):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "bayesnet", "--priors", str(SMALL), "query", "trauma=present"],
                              stdout=full, stderr=subprocess.PIPE, text=True, env=ENV, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "bayesnet: error: cannot write -: No space left on device\n"


# ---------------------------------------------------------------------------- stopping
def test_an_interrupt_while_scoring_keeps_the_previous_output(capsys, cases, tmp_path, monkeypatch):
    output = tmp_path / "out.csv"
    output.write_text("previous\n")
    real = score_command.score_csv

    def interrupted(*args, **kwargs):
        yield from real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(score_command, "score_csv", interrupted)
    code, _, err = score(capsys, cases, str(output), "--chunksize", "1")
    assert code == 130
    assert err == "bayesnet: interrupted (SIGINT); output files are written only by a complete run\n"
    assert output.read_text() == "previous\n" and leftovers(tmp_path) == []


@pytest.mark.parametrize("signum, status, line", [
    (signal.SIGINT, 130, "bayesnet: interrupted (SIGINT); output files are written only by a complete run"),
    (signal.SIGTERM, 143, "bayesnet: stopped by SIGTERM; output files are written only by a complete run"),
])
def test_a_signal_during_score_ends_with_one_line_and_no_partial_file(tmp_path, signum, status, line):
    cases, output = tmp_path / "cases.csv", tmp_path / "out.csv"
    with cases.open("w") as handle:
        handle.write("trauma,age_band,peripheral_rim\n")
        handle.write("present,child,absent\nabsent,adult,present\n,,\n" * 100_000)
    output.write_text("previous\n")
    process = subprocess.Popen([sys.executable, "-m", "bayesnet", "--priors", str(SMALL), "score", str(cases),
                                "-o", str(output), "--chunksize", "500"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                               preexec_fn=default_sigint)
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert leftovers(tmp_path), "the run ended before it could be stopped"
    time.sleep(0.2)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == status
    assert err == line + "\n" and out == ""
    assert output.read_text() == "previous\n" and leftovers(tmp_path) == []


def test_a_numeric_cell_is_reported_as_the_text_of_the_file(capsys, tmp_path):
    cases = tmp_path / "cases.csv"
    cases.write_text("trauma\n1\n", encoding="utf-8")
    code, _, err = run(capsys, "--priors", str(SMALL), "score", str(cases), "-o", str(tmp_path / "out.csv"))
    assert code == 2 and err.startswith("bayesnet: error: row 1, column trauma: unknown state '1'; valid states")


def test_a_reader_that_stops_early_ends_the_run_quietly(tmp_path):
    cases = tmp_path / "cases.csv"
    cases.write_text("trauma\n" + "present\nabsent\n" * 10_000, encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "bayesnet", "--priors", str(SMALL), "score", str(cases),
                                "-o", "-", "--chunksize", "200"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert process.stdout.readline().startswith("row,")
    process.stdout.close()  # as head does
    assert process.wait(timeout=120) == 0
    assert process.stderr.read() == ""


def test_cases_from_a_fifo_are_read_once_with_their_id_column(capsys, tmp_path):
    fifo = tmp_path / "cases"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("case_id,trauma\na,present\nb,\n"), daemon=True)
    writer.start()
    code, out, err = run(capsys, "--priors", str(SMALL), "score", str(fifo), "--id", "case_id", "-o", "-")
    writer.join(10)
    assert code == 0, err
    assert [line.split(",")[0] for line in out.splitlines()] == ["case_id", "a", "b"]
