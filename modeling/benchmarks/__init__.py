"""Benchmarks run by `python manage.py benchmark <name> [options]`, each printing one JSON line of measurements.

A benchmark is a module in this package with ``HELP`` (one line), ``add_arguments(parser)`` (its argparse options)
and ``run(options: dict) -> dict`` (the measurements). Add one by writing its module and listing it below.
"""

BENCHMARKS: dict[str, str] = {
    "refit": "modeling.benchmarks.refit",
    "annotate": "modeling.benchmarks.annotate",
    "accuracy": "modeling.benchmarks.accuracy",
    "evaluator": "modeling.benchmarks.evaluator",
    "steering": "modeling.benchmarks.steering",
    "load": "modeling.benchmarks.load",
    "adaptive": "modeling.benchmarks.adaptive",
    "reliability": "modeling.benchmarks.reliability",
    "hives": "modeling.benchmarks.hives",
}
