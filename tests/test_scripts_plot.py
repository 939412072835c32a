"""scripts/plot_differential.py on the small network: the files it writes, and its bad-input messages."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import load_script

SMALL = Path(__file__).parent / "data" / "small"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def script():
    return load_script("plot_differential")


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 2000, path


def test_writes_the_three_charts_for_the_top_condition(script, tmp_path, capsys):
    code = script.main(["--priors", str(SMALL), "-o", str(tmp_path), "trauma=present", "peripheral_rim=present",
                        "neck_involved=absent"])
    assert code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["differential.png", "woe_compare.png", "woe_myositis_ossificans.png"]
    for path in tmp_path.iterdir():
        assert_png(path)
    assert "wrote" in capsys.readouterr().err


def test_named_condition_and_no_evidence(script, tmp_path):
    assert script.main(["--priors", str(SMALL), "-o", str(tmp_path / "a"), "--condition", "fop",
                        "neck_involved=present"]) == 0
    assert (tmp_path / "a" / "woe_fop.png").is_file()
    # with no evidence there is nothing to weigh: only the differential is drawn
    assert script.main(["--priors", str(SMALL), "-o", str(tmp_path / "b")]) == 0
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["differential.png"]


@pytest.mark.parametrize("argv, message", [
    (["peripheral_rims=present"], "unknown node 'peripheral_rims'; did you mean 'peripheral_rim'?"),
    (["peripheral_rim=yes"], "unknown state of peripheral_rim 'yes'"),
    (["--condition", "fopp", "peripheral_rim=present"], "unknown condition 'fopp'; did you mean 'fop'?"),
    (["peripheral_rim"], "evidence must be written node=state"),
])
def test_bad_input_is_one_message_and_exit_2(script, tmp_path, capsys, argv, message):
    assert script.main(["--priors", str(SMALL), "-o", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_bad_option_exits_2(script, capsys):
    with pytest.raises(SystemExit) as stop:
        script.main(["--top", "0"])
    assert stop.value.code == 2
    assert "expected a positive whole number, got '0'" in capsys.readouterr().err


def test_unwritable_output_is_one_message(script, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert script.main(["--priors", str(SMALL), "-o", str(blocker / "sub"), "peripheral_rim=present"]) == 2
    assert "cannot write" in capsys.readouterr().err
