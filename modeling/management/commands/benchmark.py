"""`python manage.py benchmark <name> [options]`: run one benchmark from modeling.benchmarks, print one JSON line."""

import argparse
import json
from importlib import import_module
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from modeling.benchmarks import BENCHMARKS


class Command(BaseCommand):
    help = "Run a benchmark and print one JSON line of measurements: " + ", ".join(BENCHMARKS)

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(dest="benchmark", required=True, metavar="{" + ",".join(BENCHMARKS) + "}")
        for name, module_path in BENCHMARKS.items():
            module = import_module(module_path)
            subparser: argparse.ArgumentParser = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(subparser)

    def handle(self, *args: Any, **options: Any) -> None:
        module = import_module(BENCHMARKS[options["benchmark"]])
        try:
            measurements = module.run(options)
        except ValueError as error:  # a setting that cannot be benchmarked, e.g. lists longer than the pool
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(measurements))
