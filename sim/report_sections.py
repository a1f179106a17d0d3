"""The tables of the forecast report below its headline (see :mod:`sim.report_html`): plots,
stocks, the funnel, risk rules, the comparison, every metric, and the run facts.

Each section is a pure function of the run directory's parsed files; every figure in them is
per replication (a mean over the replications, with its interval), like the headline.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from sim.report import campaign_day, fmt, value_of
from sim.report_format import ci95, esc, fmt_range, label, mean_of, metric_kind, section, table
from sim.run_dir import RunData

# design.md: enforce a Rule only if over 30% of its flags are abuse and it blocks under 0.5% of
# traffic. "Traffic" is read as legitimate traffic: the evaluation's ``legit_blocked_share``.
PRECISION_MIN = 0.30
LEGIT_BLOCKED_MAX = 0.005
COMPARED = (
    "claims",
    "redemptions",
    "redemption_rate",
    "budget_spent_fen",
    "coupon_gmv_fen",
    "incremental_gmv_fen",
    "incremental_order_gmv_fen",
    "incremental_follow_on_gmv_fen",
    "incremental_roi",
    "incremental_active_customers",
    "cost_per_incremental_customer_fen",
    "sellout_probability",
    "sellout_time_s",
    "budget_exhausted_probability",
    "wool_puller_budget_share",
    "risk_rejections",
    "counterfactual_gmv_fen",
)


def plots_section(figures: list[Any]) -> str:
    """Every plot inline as a data URI, with its title and caption."""
    import base64

    parts = ["<h2>Plots</h2>"]
    for figure in figures:
        encoded = base64.b64encode(figure.path.read_bytes()).decode("ascii")
        parts.append(
            f'<figure id="{esc(figure.name)}"><h3>{esc(figure.title)}</h3>'
            f'<img alt="{esc(figure.title)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{esc(figure.caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def stocks_section(data: RunData) -> str:
    """Per stock: claims, use, spend, and its two sell-out events (quota, budget)."""
    summary = data.summary
    stocks = summary.get("stocks") or {}
    if not stocks:
        return ""
    headers = ["Stock", "Funding", "Quota", "Budget", "Claims", "Redemptions", "Budget spent"]
    headers += ["Quota sold out", "Sold out (median)", "Budget ran out", "First refusal (median)"]
    headers += ["Claims refused for budget"]
    flagship = summary.get("flagship_stock")
    rows = []
    for stock_id, stock in stocks.items():
        metrics = stock.get("metrics") or {}
        name = f"{stock_id} (flagship)" if stock_id == flagship and len(stocks) > 1 else stock_id
        row = [name, str(stock.get("funding", "—"))]
        row += [fmt(value_of(stock.get("quota")), "count"), fmt(stock.get("budget_fen"), "money")]
        row += [fmt(mean_of(metrics, n), metric_kind(n)) for n in
                ("claims", "redemptions", "budget_spent_fen")]  # fmt: skip
        row += _sellout_cells(data, metrics, "sellout_probability", "sellout_time_s")
        row += _sellout_cells(
            data, metrics, "budget_exhausted_probability", "budget_exhausted_time_s"
        )
        row.append(fmt(mean_of(metrics, "budget_refused_claims"), "count"))
        rows.append(row)
    note = (
        "Means per replication. Quota sold out: the claim that issued the last coupon of the "
        "quota (final). Budget ran out: the first claim refused because the budget left could "
        "not cover the coupon; often temporary, since expired coupons release their reserved "
        "budget and later claims succeed again. Times: the median over the replications where "
        "it happened, as campaign day and local time."
    )
    return section("Stocks", note, table(headers, rows, text_columns=(0, 1, 8, 10)))


def _sellout_cells(data: RunData, metrics: dict[str, Any], share: str, when: str) -> list[str]:
    probability = mean_of(metrics, share)
    median = (metrics.get(when) or {}).get("p50")
    moment = campaign_day(data.scenario, median) if median is not None else "never"
    return [fmt(probability, "share"), moment if metrics.get(when) is not None else "—"]


def segments_section(summary: dict[str, Any]) -> str:
    """The funnel per segment, means per replication."""
    segments = summary.get("segments") or {}
    if not segments:
        return ""
    stages = ("agents", "exposed", "claimed", "redeemed", "activated")
    names = ("Customers", "Exposed", "Claimed", "Redeemed", "Newly active")
    headers = ["Segment", *names, "Newly active / customers"]
    headers += ["Incremental GMV: coupon orders", "after a first use"]
    rows = []
    for segment, funnel in segments.items():
        means = [(funnel.get(stage) or {}).get("mean") for stage in stages]
        ratio = means[4] / means[0] if means[0] and means[4] is not None else None
        row = [segment, *(fmt(m, "count") for m in means), fmt(ratio, "share")]
        row += [fmt(mean_of(funnel, f"incremental_{p}_gmv_fen"), "money") for p in
                ("order", "follow_on")]  # fmt: skip
        rows.append(row)
    note = (
        '<p class="note">Means per replication; the funnel plot shows p5–p95 bars. Claimed and '
        "redeemed count customers with at least one claim or redemption; newly active ones "
        "would not have made any purchase in the campaign without a coupon. Incremental GMV: "
        "coupon orders beyond the purchases they replace (for wool-pullers: their orders, not "
        "counted as GMV), and spend after a first use within the attribution window.</p>"
    )
    return "<h2>Funnel per segment</h2>\n" + table(headers, rows) + note


def recommend(rule: dict[str, Any]) -> tuple[str, str]:
    """(recommendation, reason) for one evaluated Rule, by design.md's enforcement rule."""
    precision = value_of(rule.get("precision"))
    blocked = value_of(rule.get("legit_blocked_share"))
    shadow = bool(value_of(rule.get("shadow")))
    if not isinstance(precision, int | float):
        return ("keep in shadow" if shadow else "review", "never fired: no evidence")
    failures = []
    if precision <= PRECISION_MIN:
        failures.append(f"only {fmt(precision, 'share')} of flags are abuse (needs > 30%)")
    if not isinstance(blocked, int | float) or blocked >= LEGIT_BLOCKED_MAX:
        failures.append(f"flags {fmt(blocked, 'share')} of legitimate traffic (needs < 0.5%)")
    if failures:
        return ("keep in shadow" if shadow else "move to shadow", "; ".join(failures))
    reason = f"{fmt(precision, 'share')} of flags are abuse, flags {fmt(blocked, 'share')} of legit"
    return ("enforce (ready, now shadow)" if shadow else "enforce", reason)


def _money_with_interval(rule: dict[str, Any]) -> str:
    money = fmt(value_of(rule.get("money_saved_fen")), "money")
    bounds = (rule.get("ci95") or {}).get("money_saved_fen")
    if isinstance(bounds, list) and len(bounds) == 2 and None not in bounds:
        return f"{money} ({fmt_range(bounds[0], bounds[1], 'money')})"
    return money


def risk_section(summary: dict[str, Any]) -> str:
    """Per rule: flags, precision, recall, legitimate share flagged, money saved, advice."""
    risk = summary.get("risk") or {}
    rules = risk.get("rules") or {}
    if not rules:
        return '<h2>Risk rules</h2>\n<p class="note">No risk rules were evaluated in this run.</p>'
    headers = ["Rule", "Mode", "Flags / replication", "Precision", "Recall", "Legit flagged"]
    headers += ["Money saved / replication (95% CI)", "Recommendation", "Why"]
    rows = []
    for rule_id, rule in rules.items():
        advice, reason = recommend(rule)
        row = [rule_id, "shadow" if value_of(rule.get("shadow")) else "enforced"]
        row += [fmt(value_of(rule.get("flags")), "count")]
        row += [fmt(value_of(rule.get(k)), "share") for k in ("precision", "recall")]
        row += [fmt(value_of(rule.get("legit_blocked_share")), "share")]
        row += [_money_with_interval(rule), advice, reason]
        rows.append(row)
    text = (
        "Every count is per replication (one campaign), as in the headline. Design rule: "
        "enforce a Rule only if over 30% of its flags are abuse (precision) and it blocks under "
        "0.5% of legitimate traffic. Legit flagged: the share of legitimate requests this rule "
        "fires on (what it would block if enforced alone); rules overlap, so their money saved "
        "does not add up: the overall table counts the final decisions. Money saved is the "
        "value of the refused coupons, an upper bound: when the quota sells out anyway, they "
        "go to other customers instead. Shadow rules are evaluated, never enforced."
    )
    overall = risk.get("overall") or {}
    overall_rows = [
        [f"{label(k)} / replication" if metric_kind(k) in ("count", "money") else label(k),
         fmt(value_of(v), metric_kind(k))]
        for k, v in overall.items() if k != "ci95"
    ]  # fmt: skip
    overall_html = table(["Overall", "Value"], overall_rows, narrow=True) if overall_rows else ""
    return section(
        "Risk rules", text, table(headers, rows, text_columns=(0, 1, 7, 8)) + overall_html
    )


def _labels(data: RunData) -> tuple[str, str]:
    """Names for A and B: the scenario files as given (run.json), else the scenario names,
    else plain A and B when both are the same."""
    facts, summary = data.facts, data.summary
    other = str((summary.get("compare") or {}).get("other", "the other scenario"))
    a_file, b_file = facts.get("scenario_file"), facts.get("other_file")
    if isinstance(a_file, str) and isinstance(b_file, str):
        a, b = PurePath(a_file).name, PurePath(b_file).name
        if a == b:
            a, b = a_file, b_file
        if a != b:
            return a, b
    if summary["scenario"] != other:
        return str(summary["scenario"]), other
    return "A", "B"


def compare_section(data: RunData) -> str:
    """A, B and B − A side by side, each with its 95% interval (common random numbers)."""
    summary = data.summary
    compare = summary.get("compare")
    if not compare:
        return ""
    a_name, b_name = _labels(data)
    headers = ["Metric", "A (95% CI)", "B (95% CI)", "B − A (95% CI)", "Interval excludes 0"]
    rows, classes = [], []
    mine, theirs = summary.get("metrics") or {}, compare.get("other_metrics") or {}
    names = [n for n in COMPARED if n in compare["metrics"]]
    names += [n for n in compare["metrics"] if n not in names]
    for name in names:
        diff, kind = compare["metrics"][name]["difference"], metric_kind(name)
        lo, hi = ci95(diff)
        significant = all(isinstance(v, int | float) for v in (lo, hi)) and (lo > 0 or hi < 0)
        row = [label(name), _value_ci(mine.get(name), kind), _value_ci(theirs.get(name), kind)]
        row += [_value_ci(diff, kind, signed=True), "yes" if significant else "no"]
        rows.append(row)
        classes.append("sig" if significant else "")
    text = (
        f"A = {a_name}, B = {b_name}: both run with the same replication seeds (common random "
        "numbers: the same customers, the same organic purchases) over the same window. Each "
        "cell is a mean per replication with its 95% interval below it; B − A is the mean of the "
        "per-replication differences. Highlighted rows: the interval of B − A excludes 0. "
        "Sell-out times are compared only where both sold out."
    )
    content = table(headers, rows, classes, css_class="cmp")
    return section(f"Compared: A = {a_name}, B = {b_name}", text, content)


def _value_ci(stats: Any, kind: str, signed: bool = False) -> str:
    if not isinstance(stats, dict) or stats.get("mean") is None:
        return "—"
    lo, hi = ci95(stats)
    interval = fmt_range(lo, hi, kind, signed=signed)
    return fmt(stats["mean"], kind, signed=signed) + ("" if interval == "—" else f"\n{interval}")


def _stats_rows(metrics: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, stats in metrics.items():
        kind = metric_kind(name)
        cells = [fmt(stats.get("mean"), kind), fmt_range(*ci95(stats), kind)]
        cells += [fmt(stats.get(key), kind) for key in ("p5", "p50", "p95")]
        rows.append([f"{label(name)} ({name})", *cells, fmt(stats.get("n"), "count")])
    return rows


def metrics_section(summary: dict[str, Any]) -> str:
    """Every metric of the run, overall and per stock (collapsed)."""
    headers = ["Metric", "Mean", "95% CI of mean", "p5", "p50", "p95", "n"]
    parts = ["<h2>All metrics</h2>", table(headers, _stats_rows(summary["metrics"]))]
    parts.append(
        '<p class="note">Probabilities: the share of replications where it happened, with a '
        "Wilson interval; their p5/p50/p95 are observed outcomes (0 or 1). Times: over the "
        "replications where the event happened (n).</p>"
    )
    for stock_id, stock in (summary.get("stocks") or {}).items():
        rows = _stats_rows(stock.get("metrics") or {})
        if rows:
            parts.append(f"<details><summary>Stock {esc(stock_id)}</summary>")
            parts.append(table(headers, rows) + "</details>")
    return "\n".join(parts)


def replay_commands(data: RunData) -> tuple[str, str]:
    """(from the resolved scenarios saved in the run, from the scenario files as given)."""
    summary, facts = data.summary, data.facts
    flags = f"--seed {summary['seed']} --replications {summary['replications']}"
    exact = f"couponlab sim RUN_DIR/scenario.toml {flags}"
    if summary.get("compare"):
        exact += " --compare RUN_DIR/other_scenario.toml"
    source = facts.get("scenario_file") or f"scenarios/{summary['scenario']}.toml"
    scale = facts.get("population_scale", 1)
    if isinstance(scale, int | float) and scale != 1:
        flags += f" --population-scale {scale:g}"
    if summary.get("compare"):
        other = facts.get("other_file") or "OTHER.toml"
        flags += f" --compare {other}"
    return exact, f"couponlab sim {source} {flags}"


def facts_section(data: RunData) -> str:
    """Scenario, hash, seed, versions, how it ran (run.json), and how to replay it."""
    summary, facts = data.summary, data.facts
    versions = summary.get("versions") or {}
    rows_data = [
        ("Scenario", summary["scenario"]),
        ("Scenario hash", summary.get("scenario_hash", "—")),
        ("Seed", summary["seed"]),
        ("Replications", summary["replications"]),
        ("Jobs", facts.get("jobs", summary.get("jobs", "—"))),
        ("Versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or "—"),
    ]
    if facts.get("dask"):
        rows_data.insert(5, ("Dask scheduler", facts["dask"]))
    rows = "".join(f'<tr><th>{esc(k)}</th><td class="l">{esc(v)}</td></tr>' for k, v in rows_data)
    exact, original = replay_commands(data)
    hash_note = f" (scenario hash {summary['scenario_hash']})" if "scenario_hash" in summary else ""
    return (
        f'<h2>Run facts</h2>\n<table class="kv">{rows}</table>\n'
        "<p>Replay this forecast exactly from the resolved scenarios saved with it "
        "(RUN_DIR is the folder holding this report; they already hold any population scale):"
        f"</p><pre>{esc(exact)}</pre>\n<p>or from the scenario files, if they still resolve to "
        f"the same scenarios{esc(hash_note)}:</p><pre>{esc(original)}</pre>\n"
        f"<details><summary>Resolved scenario (scenario.toml)</summary>"
        f"<pre>{esc(data.scenario_text)}</pre></details>"
    )
