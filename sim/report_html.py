"""The self-contained ``report.html`` page of a run directory (see :mod:`sim.report`).

:func:`build_html` is a pure function of the parsed :class:`~sim.run_dir.RunData` and the
figures already written by :mod:`sim.plots`: inline CSS, plots as data URIs, every text escaped,
no timestamps, so the same run directory gives a byte-identical page. This module holds the
page, the headline and the assumptions; the tables below them are :mod:`sim.report_sections`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.report import campaign_day, campaign_day_number, fmt, total_budget_fen
from sim.report_format import (
    card,
    ci95,
    esc,
    fmt_range,
    label,
    mean_of,
    metric_kind,
    section,
    stats_of,
    table,
)
from sim.report_sections import (
    compare_section,
    facts_section,
    metrics_section,
    plots_section,
    risk_section,
    segments_section,
    stocks_section,
)
from sim.run_dir import RunData
from sim.units import DAY_S, HOUR_S

HEADLINES = (
    "claims",
    "redemptions",
    "redemption_rate",
    "budget_spent_fen",
    "coupon_gmv_fen",
    "incremental_gmv_fen",
    "incremental_active_customers",
    "cost_per_incremental_customer_fen",
    "wool_puller_budget_share",
    "sellout_probability",
    "budget_exhausted_probability",
    "risk_rejections",
)
# Alibaba O2O (Tianchi): about 6-7% of received coupons used within 15 days (domain.md).
PUBLIC_REDEMPTION = "6–7%"
CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","DejaVu Sans",
sans-serif;color:#1f2933;background:#f5f7fa;margin:0}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 10px;border-bottom:2px solid
#e4e7eb;padding-bottom:4px}p.sub,p.note,figcaption{color:#52606d;font-size:14px}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}
.card{border:1px solid #d9e2ec;border-radius:8px;padding:12px 14px;background:#fbfcfd}
.card .k{font-size:13px;color:#52606d;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:26px;font-weight:600;margin:4px 0;font-variant-numeric:tabular-nums}
.card .d{font-size:13px;color:#3e4c59;font-variant-numeric:tabular-nums}
.flags{border-left:4px solid #f0b429;background:#fffbea;padding:8px 14px 8px 30px;
margin:16px 0;font-size:14px;color:#3e4c59}.flags li{margin:3px 0}
figure{margin:18px 0}figure img{max-width:100%;border:1px solid #e4e7eb}
table{border-collapse:collapse;width:100%;font-size:14px;margin:8px 0}
th,td{padding:5px 8px;border-bottom:1px solid #e4e7eb;text-align:right;
font-variant-numeric:tabular-nums}th{background:#f0f4f8}th:first-child,td:first-child{
text-align:left}tr.sig td{background:#fff8e1;font-weight:600}td.l,th.l{text-align:left}
.good{color:#1f7a3a;font-weight:600}.bad{color:#b42318;font-weight:600}
code,pre{font-family:"DejaVu Sans Mono",monospace;font-size:13px}
pre{background:#f0f4f8;padding:10px;overflow-x:auto;white-space:pre-wrap}
table.kv{width:auto;min-width:50%}table.cmp td:not(.l){white-space:nowrap}
table.cmp td.l{min-width:180px}table.small{font-size:13px}
.ci{font-size:12px;color:#52606d;font-weight:400}
"""


def build_html(data: RunData, figures: list[Any]) -> str:
    """The whole self-contained page: inline CSS, plots as data URIs, every text escaped."""
    summary = data.summary
    title = f"Forecast: {summary['scenario']}"
    sections = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">{esc(_subtitle(summary))}</p>',
        _headline_section(data),
        _assumptions_section(data.scenario),
        plots_section(figures),
        stocks_section(data),
        segments_section(summary),
        risk_section(summary),
        compare_section(data),
        metrics_section(summary),
        facts_section(data),
    ]
    body = "\n".join(part for part in sections if part)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _subtitle(summary: dict[str, Any]) -> str:
    parts = [f"{summary['replications']:,} replications", f"seed {summary['seed']}"]
    if isinstance(summary.get("population"), int | float):
        parts.append(f"population {summary['population']:,}")
    if isinstance(summary.get("days"), int | float):
        parts.append(f"{summary['days']:g}-day campaign")
    if isinstance(summary.get("horizon_days"), int | float):
        parts.append(f"measured over {summary['horizon_days']:g} days (campaign + validity)")
    return " · ".join(parts)


# --- headline ---------------------------------------------------------------------------------


def _headline_section(data: RunData) -> str:
    metrics = data.summary["metrics"]
    cards = [_headline_card(data, name, metrics.get(name)) for name in HEADLINES]
    note = (
        "Each figure is the mean over the replications: what one run of this campaign gives on "
        "average. “95% CI” is the uncertainty of that mean; “p5 to p95” is the range of "
        "single-campaign outcomes (90% of replications fall inside)."
    )
    flags = "".join(f"<li>{esc(line)}</li>" for line in assumption_flags(data))
    flags_html = f'<ul class="flags">{flags}</ul>' if flags else ""
    content = f'<div class="cards">{"".join(cards)}</div>\n{flags_html}'
    return section("Headline forecast", note, content)


def _headline_card(data: RunData, name: str, stats: dict[str, Any] | None) -> str:
    if stats is None:
        return card(label(name), "—", ["not reported by this run"])
    if name in ("sellout_probability", "budget_exhausted_probability"):
        return _sellout_card(data, name, stats)
    kind = metric_kind(name)
    details = [
        f"95% CI: {fmt_range(*ci95(stats), kind)}",
        f"p5 to p95: {fmt_range(stats.get('p5'), stats.get('p95'), kind)}",
    ]
    details.extend(_headline_extra(data, name, stats))
    return card(label(name), fmt(stats.get("mean"), kind), details)


def _headline_extra(data: RunData, name: str, stats: dict[str, Any]) -> list[str]:
    """The lines under a headline card that put its number in context."""
    metrics = data.summary["metrics"]
    mean = stats.get("mean")
    if name == "budget_spent_fen":
        budget_fen = total_budget_fen(data.summary)
        if budget_fen and isinstance(mean, int | float):
            return [f"of {fmt(budget_fen, 'money')} budget ({fmt(mean / budget_fen, 'share')})"]
    if name == "coupon_gmv_fen":
        return [f"all card spend: {fmt(mean_of(metrics, 'gmv_fen'), 'money')} (organic included)"]
    if name == "incremental_gmv_fen":
        return _incremental_extra(metrics)
    if name == "incremental_active_customers":
        redeemed = fmt(mean_of(metrics, "activated_customers"), "count")
        return [f"active only thanks to a coupon; {redeemed} customers redeemed"]
    if name == "wool_puller_budget_share":
        lost = metrics.get("wool_puller_spent_fen") or wool_puller_money(data.replications)
        if lost["mean"] is not None:
            span = fmt_range(*ci95(lost), "money")
            return [f"≈ {fmt(lost['mean'], 'money')} lost (95% CI {span})"]
    return []


def _incremental_extra(metrics: dict[str, Any]) -> list[str]:
    """Incremental GMV split into its two parts, and per yuan spent."""
    lines = []
    orders = mean_of(metrics, "incremental_order_gmv_fen")
    follow = mean_of(metrics, "incremental_follow_on_gmv_fen")
    if isinstance(orders, int | float) and isinstance(follow, int | float):
        lines.append(
            f"coupon orders {fmt(orders, 'money')} + after a first use {fmt(follow, 'money')}"
        )
    roi = mean_of(metrics, "incremental_roi")
    if isinstance(roi, int | float):
        lines.append(f"¥{roi:,.2f} per ¥1 spent (see the assumptions below)")
    return lines


def _sellout_card(data: RunData, name: str, stats: dict[str, Any]) -> str:
    """Quota sell-out or budget exhaustion of the flagship stock, named, with its Wilson
    interval and the median moment as campaign day and local time."""
    summary = data.summary
    stock = summary.get("flagship_stock") or "the campaign"
    quota = name == "sellout_probability"
    title = f"Quota sold out: {stock}" if quota else f"Budget ran out: {stock}"
    times = summary["metrics"].get("sellout_time_s" if quota else "budget_exhausted_time_s") or {}
    details = [f"95% CI: {fmt_range(*ci95(stats), 'share')} of campaigns"]
    if times.get("p50") is None:
        details.append("did not sell out in any replication" if quota else "never refused a claim")
    elif quota:
        details.append(f"median: {campaign_day(data.scenario, times['p50'])}")
        details.append(f"p5 to p95: {_day_range(data, times)}")
    else:
        details.append(f"first refusal, median: {campaign_day(data.scenario, times['p50'])}")
        refused = fmt(mean_of(summary["metrics"], "budget_refused_claims"), "count")
        details.append(f"claims refused for budget (all stocks): {refused}; expiries release it")
    return card(title, fmt(stats.get("mean"), "share"), details)


def _day_range(data: RunData, times: dict[str, Any]) -> str:
    low, high = times.get("p5"), times.get("p95")
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return "—"
    scenario = data.scenario
    return f"day {campaign_day_number(scenario, low)} to day {campaign_day_number(scenario, high)}"


def wool_puller_money(replications: dict[str, np.ndarray]) -> dict[str, Any]:
    """STATS of the money that went to wool-pullers per replication (spent × their share)."""
    spent = replications.get("budget_spent_fen")
    share = replications.get("wool_puller_budget_share")
    if spent is None or share is None:
        return stats_of(np.array([]))
    return stats_of(spent * share)


def assumption_flags(data: RunData) -> list[str]:
    """The assumptions the headline rests on, stated next to it: incremental attribution,
    organic activation, intent to use against the public redemption rate, the daily cycle."""
    segments = [s for s in data.scenario.get("segments") or [] if isinstance(s, dict)]
    customers = [s for s in segments if s.get("kind") != "wool_puller"]
    if not customers:
        return []
    intents = ", ".join(
        f"{s.get('name')} {fmt(s.get('redemption_probability'), 'share')}" for s in customers
    )
    flags = [
        f"Intent to use an issued coupon (scenario assumption): {intents}. Public data: "
        f"{PUBLIC_REDEMPTION} of received coupons are used (Alibaba O2O, pushed coupons); "
        "coupons a customer grabs on purpose are used more often. Calibrate on the first weeks."
    ]
    starters = [s for s in customers if s.get("kind") in ("new", "dormant")]
    if starters:
        anyway = ", ".join(
            f"{s.get('name')} {fmt(s.get('organic_activation_probability'), 'share')}"
            for s in starters
        )
        days = sorted({fmt(s.get("attribution_days"), "count") for s in starters})
        flags.append(
            "Incremental GMV = coupon orders beyond the purchases they replace + what new and "
            f"dormant customers spend in the {' / '.join(days)} days after a first use, before "
            f"they would have started anyway. Share that starts without any coupon: {anyway} "
            "(assumptions; the ROI moves with them)."
        )
    flags.append(
        "Claims and uses follow each segment's daily activity profile (quiet at night); "
        "flash-sale rushes follow the window opening."
    )
    return flags


# --- assumptions ------------------------------------------------------------------------------


def _assumptions_section(scenario: dict[str, Any]) -> str:
    """The behaviour the forecast assumes per segment, from the resolved scenario: the inputs a
    marketer should challenge before trusting the numbers above."""
    segments = [s for s in scenario.get("segments") or [] if isinstance(s, dict)]
    customers = [s for s in segments if s.get("kind") != "wool_puller"]
    rings = [s for s in segments if s.get("kind") == "wool_puller"]
    if not segments:
        return ""
    parts = []
    if customers:
        headers = ["Segment", "Kind", "Customers", "Exposed", "Claim", "Intends to use"]
        headers += ["Claim → use", "Order (median)", "Own purchases / week"]
        headers += ["Starts anyway (no coupon)", "Purchases / week once started"]
        headers += ["Attribution window", "Stocks"]
        rows = [_customer_assumptions(s) for s in customers]
        parts.append(table(headers, rows, text_columns=(0, 1, 12), css_class="small"))
    if rings:
        headers = ["Wool-puller segment", "Rings × accounts", "Devices / ring", "IPs / ring"]
        headers += ["Joins each opening", "Claims after opening", "Stocks"]
        rows = [_ring_assumptions(s) for s in rings]
        parts.append(table(headers, rows, text_columns=(0, 6)))
    note = (
        "Inputs of the forecast (scenario.toml, defaults filled in). Probabilities are per "
        "customer: exposed = sees the campaign, claim = tries to claim once exposed, intends to "
        "use = uses an issued coupon. Times are means. Starts anyway: the share of new or "
        "dormant customers who start spending during the campaign without any coupon (their "
        "spend is not credited to the campaign). Defaults come from public figures (domain.md: "
        f"{PUBLIC_REDEMPTION} of received coupons used, about 8 days from receipt to use); "
        "values above them are the scenario's own assumptions, explained in its comments."
    )
    parts.append(f'<p class="note">{esc(_levers_line(scenario.get("levers") or {}))}</p>')
    return section("Assumptions", note, "\n".join(parts))


def _levers_line(levers: dict[str, Any]) -> str:
    """The campaign levers in one sentence (``[levers]`` of the resolved scenario)."""
    parts = []
    if levers.get("expiry_reminder"):
        parts.append(
            f"expiry reminder {fmt(levers.get('reminder_days_before'), 'count')} days before "
            f"expiry, {fmt(levers.get('reminder_response'), 'share')} of those reminded use it"
        )
    if levers.get("checkout_reminder"):
        parts.append(
            f"checkout reminder, {fmt(levers.get('checkout_response'), 'share')} of holders "
            "who did not mean to use the coupon use it on their next purchase"
        )
    return "Levers: " + ("; ".join(parts) if parts else "none (no reminders)") + "."


def _customer_assumptions(segment: dict[str, Any]) -> list[str]:
    row = [str(segment.get("name", "—")), str(segment.get("kind", "—"))]
    row.append(fmt(segment.get("size"), "count"))
    for key in ("exposure_probability", "claim_probability", "redemption_probability"):
        row.append(fmt(segment.get(key), "share"))
    row.append(_mean_delay(segment.get("redeem_delay")))
    row.append(fmt(_median_amount(segment.get("amount")), "money"))
    row.append(fmt(segment.get("purchases_per_week"), "count"))
    # regular customers shop anyway: starting, and spend credited after a first use, are the
    # new and dormant customers' figures
    starts = segment.get("kind") in ("new", "dormant")
    rate = segment.get("activated_purchases_per_week")
    row.append(fmt(segment.get("organic_activation_probability"), "share") if starts else "—")
    row.append(fmt(rate, "count") if starts else "—")
    days = segment.get("attribution_days")
    credited = starts and isinstance(days, int | float) and isinstance(rate, int | float) and rate
    row.append(f"{fmt(days, 'count')} days" if credited else "—")
    row.append(", ".join(str(stock) for stock in segment.get("stocks") or []))
    return row


def _ring_assumptions(segment: dict[str, Any]) -> list[str]:
    rings, accounts = segment.get("rings"), segment.get("accounts_per_ring")
    row = [str(segment.get("name", "—")), f"{fmt(rings, 'count')} × {fmt(accounts, 'count')}"]
    row += [fmt(segment.get(key), "count") for key in ("devices_per_ring", "ips_per_ring")]
    row.append(fmt(segment.get("participation"), "share"))
    row.append(_mean_delay(segment.get("claim_latency")))
    row.append(", ".join(str(stock) for stock in segment.get("stocks") or []))
    return row


def _mean_delay(table: Any) -> str:
    from engine.errors import InvalidDefinition
    from sim.distributions import delay_dist

    try:
        mean_s = delay_dist(table, "delay").mean
    except InvalidDefinition:
        return "—"
    if mean_s >= DAY_S:
        return f"{mean_s / DAY_S:,.1f} days"
    return f"{mean_s / HOUR_S:,.1f} h" if mean_s >= HOUR_S else fmt(mean_s, "duration")


def _median_amount(table: Any) -> Any:
    if not isinstance(table, dict):
        return None
    if table.get("dist") == "uniform":
        low, high = table.get("low_fen"), table.get("high_fen")
        if isinstance(low, int | float) and isinstance(high, int | float):
            return (low + high) / 2
        return None
    return table.get("median_fen", table.get("value_fen"))
