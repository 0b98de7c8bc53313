"""Types for command-line arguments shared by the management commands and the benchmarks (argparse `type=`): each
converts the text and rejects a value outside its range with what was given, so `--items 0` fails at once with a
clear message instead of deep inside a run."""

import argparse


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {raw}")
    return value


def non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be zero or positive, got {raw}")
    return value
