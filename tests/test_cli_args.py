"""Bad command-line arguments end in one line and exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from driftline.cli import main


@pytest.mark.parametrize("argv,wanted", [
    (["demo", "--feedback-fraction", "2"], "expected a number between 0 and 1, got 2.0"),
    (["demo", "--rate", "-1"], "expected a number >= 0, got -1.0"),
    (["alerts", "--timeout", "nan"], "expected a number >= 0, got nan"),
    (["simulate", "--drift", "5,x"], "bad drift 'x'"),
    (["simulate", "--events", "0"], "expected a number >= 1, got 0"),
    (["broker", "restart"], "invalid choice: 'restart'"),
    (["nope"], "invalid choice: 'nope'"),
])
def test_bad_arguments_are_one_line(argv, wanted, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert wanted in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_environment_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("DRIFTLINE_MAX_PENDING", "lots")
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err == "driftline: error: DRIFTLINE_MAX_PENDING must be an integer >= 1, got 'lots'\n"


def test_every_command_has_help(capsys):
    for command in ("broker", "monitor", "retrainer", "simulate", "demo", "alerts", "models", "replay"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: driftline {command}" in capsys.readouterr().out
