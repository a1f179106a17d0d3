"""Forecast a campaign scenario with Monte Carlo replications.

Runs R replications of the scenario (SimPy customer populations driving the real coupon and
risk engine), each with the no-campaign counterfactual of the same population, and writes
results/<scenario>/<run-id>/ (or --out): the resolved scenario.toml (and other_scenario.toml
with --compare), summary.json (mean, p5, p50, p95 and the 95% confidence interval of every
metric; the same for the same scenario, seed and replications whatever --jobs), run.json (how
it ran), timeseries.csv, replications.csv, the PNG plots and report.html. With --compare both
run with the same seeds over the same window, and the differences B - A are printed.

Examples:
  couponlab sim scenarios/friday_flash_sale.toml
  couponlab sim scenarios/friday_flash_sale.toml --replications 50 --jobs 2 --seed 7
  couponlab sim scenarios/friday_flash_sale.toml --compare scenarios/variant.toml
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any, NamedTuple

from engine.errors import InvalidDefinition
from sim import tomlwrite
from sim.report import fmt
from sim.report_format import metric_kind
from sim.runner import forecast, print_progress, run_facts, run_id, write_run
from sim.scenario import Scenario, load_scenario

MAX_REPLICATIONS = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``couponlab sim``'s arguments (validated in :func:`run`, not by argparse, so
    that every bad value gets the same ``flag = value: expected ...`` message)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario file (TOML)")
    parser.add_argument(
        "--replications", "-r", default="20", metavar="R",
        help="number of replications (default 20)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", default=None, metavar="S",
        help="root seed, an integer >= 0 (default: a random one, printed)",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", "-j", default=str(os.cpu_count() or 1), metavar="J",
        help="replications run in parallel on a local process pool (default: one per core,"
        " here %(default)s); results do not depend on J",
    )  # fmt: skip
    parser.add_argument(
        "--dask", default=None, metavar="ADDRESS",
        help="run the replications on the Dask scheduler at ADDRESS (e.g. tcp://host:8786)",
    )  # fmt: skip
    parser.add_argument(
        "--out", default=None, metavar="DIR",
        help="run directory (default results/<scenario>/<run-id>); must be new or empty",
    )  # fmt: skip
    parser.add_argument(
        "--compare", default=None, metavar="OTHER",
        help="a variant scenario run with the same seeds; reports each metric's difference",
    )  # fmt: skip
    parser.add_argument(
        "--population-scale", default="1", metavar="F",
        help="multiply every segment's size by F (quick looks; quotas and budgets kept)",
    )  # fmt: skip


def _integer(flag: str, text: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(flag, text, "an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f"..{maximum}" if maximum is not None else " or more"
        raise UsageError(flag, text, f"an integer {minimum}{upper}")
    return value


class UsageError(Exception):
    def __init__(self, flag: str, value: object, expected: str) -> None:
        super().__init__(f"{flag} = {value!r}: expected {expected}")


def _scenario(flag: str, path: str, scale: float) -> Scenario:
    if not Path(path).is_file():
        raise UsageError(flag, path, "an existing scenario file")
    scenario = load_scenario(path)
    return scenario if scale == 1 else scenario.scaled(scale)


class _Options(NamedTuple):
    """The validated command line."""

    replications: int
    jobs: int
    seed: int
    scenario: Scenario
    other: Scenario | None
    out: Path
    scale: float


def _options(args: argparse.Namespace) -> _Options:
    replications = _integer("--replications", args.replications, 1, MAX_REPLICATIONS)
    jobs = _integer("--jobs", args.jobs, 1, 256)
    seed = (
        secrets.randbelow(2**31) if args.seed is None else _integer("--seed", args.seed, 0, 2**63)
    )
    try:
        scale = float(args.population_scale)
    except ValueError:
        scale = -1.0
    if not 0 < scale <= 1000:
        raise UsageError("--population-scale", args.population_scale, "a number in (0, 1000]")
    if args.dask is not None and not args.dask.strip():
        raise UsageError("--dask", args.dask, "a scheduler address such as tcp://host:8786")
    scenario = _scenario("SCENARIO", args.scenario, scale)
    other = None if args.compare is None else _scenario("--compare", args.compare, scale)
    out = Path(args.out) if args.out else Path("results") / scenario.name / run_id(seed)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError("--out", str(out), "a new or empty directory")
    return _Options(replications, jobs, seed, scenario, other, out, scale)


def run(args: argparse.Namespace) -> int:
    """Run the forecast; returns the exit code (2 for bad input, 1 when the report failed)."""
    try:
        options = _options(args)
    except (UsageError, InvalidDefinition) as error:
        print(f"couponlab sim: error: {_describe(error)}", file=sys.stderr)
        return 2
    scenario, seed, replications = options.scenario, options.seed, options.replications
    print(
        f"forecast {scenario.name}: {replications} replications, seed {seed}, "
        f"population {scenario.population:,}, {scenario.days} days",
        file=sys.stderr,
    )
    try:  # forecast() refuses what it cannot forecast (check_forecastable) before any work
        outcome = forecast(
            scenario, replications, seed, options.jobs, args.dask, options.other, print_progress
        )
    except InvalidDefinition as error:
        print(f"couponlab sim: error: {_describe(error)}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"couponlab sim: error: --dask = {args.dask!r}: {error}", file=sys.stderr)
        return 2
    facts = run_facts(options.jobs, args.dask, args.scenario, args.compare, options.scale)
    run_dir, report, report_error = write_run(
        options.out, scenario, outcome, other=options.other, run_info=facts
    )
    _print_headline(outcome["summary"], seed, replay_flags(outcome["summary"], facts))
    if options.other is not None:
        _print_differences(outcome["summary"], args.scenario, args.compare)
    print(f"run directory: {run_dir}")
    if report_error is not None:
        print(
            f"couponlab sim: the report failed ({report_error}); rerun: couponlab report {run_dir}",
            file=sys.stderr,
        )
        return 1
    if report is not None:
        print(f"report: {report}")
    return 0


def _describe(error: Exception, width: int = 120) -> str:
    """The error's message, the value spelled as in a TOML file (``true``, not ``True``), a
    long offending value (a whole table) cut short."""
    if not isinstance(error, InvalidDefinition):
        return str(error)
    value = tomlwrite.spelling(error.value)
    if len(value) > width:
        value = value[: width - 4] + " ..."
    return f"{error.field} = {value}: expected {error.expected}"


# The headline printed after a run: metric name -> label (the report explains each in full).
HEADLINE = {
    "claims": "claims (coupons issued)",
    "redemptions": "redemptions",
    "redemption_rate": "redemption rate",
    "budget_spent_fen": "budget spent",
    "coupon_gmv_fen": "GMV of coupon orders",
    "incremental_gmv_fen": "incremental GMV (vs no campaign)",
    "incremental_order_gmv_fen": "  of which extra coupon orders",
    "incremental_follow_on_gmv_fen": "  of which spend after a first use",
    "incremental_roi": "incremental GMV / budget spent",
    "incremental_active_customers": "incremental active customers",
    "cost_per_incremental_customer_fen": "cost per incremental customer",
    "sellout_probability": "quota sell-out probability",
    "sellout_time_s": "quota sell-out, after start",
    "budget_exhausted_probability": "budget ran out (a claim refused)",
    "wool_puller_budget_share": "wool-puller share of spent",
}


def replay_flags(summary: dict[str, Any], facts: dict[str, Any]) -> str:
    """The flags that replay this forecast from its scenario files (seed, replications, and the
    population scale and comparison when given)."""
    flags = f"--seed {summary['seed']} --replications {summary['replications']}"
    scale = facts.get("population_scale", 1)
    if isinstance(scale, int | float) and scale != 1:
        flags += f" --population-scale {scale:g}"
    if facts.get("other_file"):
        flags += f" --compare {facts['other_file']}"
    return flags


def _print_headline(summary: dict[str, Any], seed: object, flags: str) -> None:
    metrics: dict[str, dict[str, Any]] = summary["metrics"]
    print(f"seed {seed}  (replay: couponlab sim SCENARIO {flags})")
    stock = summary.get("flagship_stock")
    if stock:
        print(f"  sell-out figures are those of stock {stock!r} (the flagship)")
    for name, label in HEADLINE.items():
        s = metrics[name]
        low, high = s["ci95"] if isinstance(s["ci95"], list) else (None, None)
        print(
            f"  {label:36} {_fmt(name, s['mean']):>16}   95% CI "
            f"[{_fmt(name, low)}, {_fmt(name, high)}]"
        )


def _print_differences(summary: dict[str, Any], base: str, other: str) -> None:
    """B − A for the headline metrics, with the 95% interval of the mean difference."""
    compare = summary["compare"]
    print(f"difference B − A, per replication (A = {base}, B = {other}):")
    for name, label in HEADLINE.items():
        d = compare["metrics"][name]["difference"]
        low, high = d["ci95"]
        print(
            f"  {label:36} {_fmt(name, d['mean'], True):>16}   95% CI "
            f"[{_fmt(name, low, True)}, {_fmt(name, high, True)}]"
        )


def _fmt(name: str, value: object, signed: bool = False) -> str:
    """A metric's value as the report shows it: :func:`sim.report.fmt` in the kind its name
    says (:func:`sim.report_format.metric_kind`: money, share, ratio, duration or count);
    ``n/a`` when it is undefined."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "n/a"
    return fmt(value, metric_kind(name), signed=signed)
