"""``couponlab``: the single command-line entry point.

Each subcommand lives with its package (``sim``, ``loadtest``, ``engine.http``, the benchmark
gate) and is imported only when used, so ``couponlab --help`` is fast and the engine never imports
the simulation or the load tests.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help). Each module offers add_arguments(parser) and run(args).
# A module that does not exist yet (work in progress) is left out of the parser.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("sim.cli", "forecast a campaign scenario with Monte Carlo replications"),
    "report": ("couponlab.report", "re-render plots and report.html of a finished run"),
    "serve": ("engine.http.cli", "serve the HTTP issuance API"),
    "loadtest": ("loadtest.cli", "run a Locust flash-sale load test and check its verdict"),
    "bench": ("couponlab.bench", "run the benchmarks and compare with a baseline"),
    "demo": ("couponlab.demo", "run a small Friday flash sale through the engine and print it"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="couponlab",
        description="Coupon and risk engine: campaign forecasts (sim), flash-sale load tests "
        "(serve, loadtest) and performance gates (bench).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is None or not module_name.startswith(error.name):
                raise
            continue
        command = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
