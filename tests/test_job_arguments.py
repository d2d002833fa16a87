"""JobArgumentParser: option values that begin like negative numbers."""

import pytest

from clusterkit.runtime import JobArgumentParser


def parser():
    p = JobArgumentParser(prog="job")
    p.add_argument("inputs", nargs="*")
    p.add_argument("--region")
    p.add_argument("--shift", type=float)
    p.add_argument("--flag", action="store_true")
    return p


@pytest.mark.parametrize("argv, region, inputs", [
    (["a.nc", "--region", "-30,30,-10,10"], "-30,30,-10,10", ["a.nc"]),
    (["--region", "-.5,1,2,3", "a.nc"], "-.5,1,2,3", ["a.nc"]),
    (["--region=-30,30,0,10"], "-30,30,0,10", []),
    (["--region", "10,20,-5,5"], "10,20,-5,5", []),
])
def test_a_list_starting_with_a_negative_number_is_the_options_value(argv, region, inputs):
    args = parser().parse_args(argv)
    assert args.region == region and args.inputs == inputs


def test_options_and_what_follows_double_dash_are_untouched():
    args = parser().parse_args(["--flag", "--shift", "-2", "--", "--region", "-1,2"])
    assert args.flag and args.shift == -2.0 and args.region is None
    assert args.inputs == ["--region", "-1,2"]


def test_a_missing_value_is_still_argparses_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["--region", "--flag"])
    assert exc.value.code == 2
    assert "argument --region: expected one argument" in capsys.readouterr().err
