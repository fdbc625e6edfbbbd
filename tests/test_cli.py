"""Flag checks: every bad value is refused with one line before any work."""
import argparse

import pytest

import cli


@pytest.mark.parametrize("kind, text, said", [
    (cli.positive_int, "0", "at least 1"), (cli.positive_int, "2.5", "not a int"),
    (cli.non_negative_int, "-5", "at least 0"), (cli.positive_float, "nan", "finite"),
    (cli.positive_float, "-1", "above 0"), (cli.share, "1", "below 1"),
    (cli.last_step, "1.5", "from 0 to 1"), (cli.last_step, "-0.1", "at least 0"),
    (cli.last_step, "hot", "not a float"),
    (cli.checkpoint_path, "runs/exp[1]", "pattern"), (cli.checkpoint_path, "a\udcffb", "UTF-8"),
])
def test_bad_values_are_refused_naming_what_is_allowed(kind, text, said):
    with pytest.raises(argparse.ArgumentTypeError, match=said):
        kind(text)


def test_good_values_come_back_as_numbers_and_paths():
    assert cli.positive_int("3") == 3 and cli.non_negative_int("0") == 0
    assert cli.positive_float("1e-3") == 0.001 and cli.share("0.25") == 0.25
    assert cli.checkpoint_path("runs/exp-1/init") == "runs/exp-1/init"
    assert [cli.last_step(t) for t in ("sample", "mode", "0.5", "1")] == [1.0, 0.0, 0.5, 1.0]


def test_parser_errors_are_one_line_with_exit_status_2(capsys):
    parser = cli.ArgumentParser(prog="tool")
    parser.add_argument("--k", type=cli.positive_int, default=1)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--k", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tool: error: argument --k: 0")


def test_midi_limit_flags_reach_the_reader():
    parser = cli.ArgumentParser()
    cli.add_midi_limits(parser)
    args = parser.parse_args(["--max-frames", "100", "--max-silent-frames", "7"])
    assert cli.midi_limits(args) == {"max_frames": 100, "max_silent_frames": 7}
