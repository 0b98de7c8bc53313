"""The command-line argument types shared by the management commands and the benchmarks."""

import argparse

import pytest

from common.arguments import non_negative_float, positive_float, positive_int


def test_each_type_converts_a_value_in_its_range():
    assert positive_int("3") == 3
    assert positive_float("0.5") == 0.5
    assert non_negative_float("0") == 0.0


@pytest.mark.parametrize(
    ("convert", "raw", "message"),
    [
        (positive_int, "0", "must be at least 1, got 0"),
        (positive_float, "0", "must be positive, got 0"),
        (non_negative_float, "-1", "must be zero or positive, got -1"),
        (non_negative_float, "nan", "must be zero or positive, got nan"),
    ],
)
def test_a_value_outside_the_range_is_refused_with_what_was_given(convert, raw, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        convert(raw)


def test_a_benchmark_names_the_option_and_the_value_it_refuses(capsys):
    from modeling.benchmarks.annotate import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--annotators", "0", "--seconds", "1"])
    assert "argument --annotators: must be at least 1, got 0" in capsys.readouterr().err
