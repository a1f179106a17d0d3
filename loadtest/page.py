"""``report.html`` of a load test: one self-contained page (plots inlined as base64 PNG).

Built from ``summary.json`` alone (:func:`render`), so a finished run can be re-rendered. The
page answers, top to bottom: did it pass (verdict and thresholds), how the run was set up
(store, workers, risk pack, processes, users, seed, when), what the tier achieved (throughput,
201s/s, latency, outcomes, sell-out), what load was offered (shape — flagged when the duration
cut it —, model, mix), and whose CPU was the limit (generator or server). Instants are local
ISO times with their offset.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path
from typing import Any

# outcome class -> what the client saw; the first seven are always listed, even at zero
_OUTCOME_LABELS = {
    "ok": "201 coupon issued",
    "sold_out": "409 sold out (quota or budget)",
    "limit": "409 limit reached",
    "risk_rejected": "403 risk rejected",
    "rate_limited": "429 rate limited",
    "5xx": "5xx server error",
    "timeout": "timeout",
    "not_eligible": "403 not eligible",
    "not_open": "425 window not open",
    "rejected_other": "other 4xx",
    "connection_error": "connection error",
    "in_flight": "in flight at the stop",
}
_ALWAYS = ("ok", "sold_out", "limit", "risk_rejected", "rate_limited", "5xx", "timeout")


def local_time(epoch_s: float) -> str:
    """``epoch_s`` as a local ISO time with its offset and zone name, to the millisecond
    (``2026-12-01T20:27:05.010+08:00 CST``)."""
    moment = dt.datetime.fromtimestamp(epoch_s).astimezone()
    return f"{moment.isoformat(timespec='milliseconds')} {moment.tzname()}"


def render(summary: dict[str, Any], plots: dict[str, Path]) -> str:
    """The page for ``summary`` with ``plots`` (caption -> PNG path) inlined."""
    passed = summary["verdict"]["passed"] and summary["thresholds"]["passed"]
    return _PAGE.format(
        title=html.escape(f"Load test — {summary['scenario']}"),
        when=html.escape(_when(summary)),
        badge="PASS" if passed else "FAIL",
        badge_class="ok" if passed else "bad",
        setup=_rows(_setup(summary)),
        facts=_rows(_facts(summary)),
        load=_rows(_load(summary)),
        outcomes=_outcome_table(summary),
        checks=_checks(summary["verdict"]["checks"]),
        thresholds=_thresholds(summary),
        cpu=_cpu(summary),
        images="".join(_figure(title, path) for title, path in plots.items()),
    )


def _when(summary: dict[str, Any]) -> str:
    setup = summary.get("setup", {})
    opened = setup.get("window_open", summary["window_open_s"])
    return f"run of {setup.get('run_date', '?')}, window opened {opened}"


def _setup(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    """How the run was set up: what an architect needs to read the figures (and re-run it)."""
    setup = summary.get("setup", {})
    workers = summary["server_workers"] or "unknown (plain Locust)"
    return [
        ("store", summary["store"]),
        ("server workers", workers),
        ("server risk pack", setup.get("risk", "unknown")),
        ("Locust processes", summary["locust_processes"]),
        ("users (peak)", setup.get("users", summary["profile"]["users"])),
        ("seed", summary["seed"]),
        ("run date", setup.get("run_date", "?")),
        ("test started", setup.get("test_start", "?")),
        ("window opened", setup.get("window_open", summary["window_open_s"])),
        ("stock / run id", f"{summary['stock_id']} / {summary.get('run_id') or '–'}"),
    ]


def _rows(items: list[tuple[str, Any]]) -> str:
    return "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in items
    )


def _facts(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    lat, thr, sell = summary["latency_ms"], summary["throughput"], summary["sellout"]
    percentiles = " / ".join(_ms(lat[k]) for k in ("p50", "p90", "p99", "p99.9", "max"))
    sellout = "not sold out" if sell["sellout_s"] is None else f"{sell['sellout_s']:.2f} s"
    issued = f"{thr.get('issued_rps_after_open')} (peak {thr.get('peak_issued_rps')})"
    return [
        ("claims answered / s after the opening: mean (any outcome)", thr["mean_rps_after_open"]),
        ("coupons issued (201) / s: opening to the last coupon", issued),
        ("peak per second: offered / achieved", f"{thr['peak_offered_rps']} / {thr['peak_rps']}"),
        ("latency p50 / p90 / p99 / p99.9 / max (ms)", percentiles),
        ("latency measured over", f"{lat['count']} answered attempts (HdrHistogram)"),
        ("coupons issued / quota", f"{sell['issued']} / {sell['quota']}"),
        ("sell-out (last coupon after the opening)", sellout),
        ("request ids left unknown (timeout, 5xx, conn., in flight)",
         f"{summary['error_rate']:.3%} (of attempts: {summary['attempt_error_rate']:.3%})"),
        ("retried attempts (same request id)", summary["retried_attempts"]),
    ]  # fmt: skip


def _load(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    """The load offered: the shape, the model and the population mix."""
    p = summary["profile"]
    model = (f"open, target {p['arrival_rate_per_s']:g} claims/s" if p["arrival_rate_per_s"]
             else "closed (each user waits for its answer)")  # fmt: skip
    mix = (f"early {p['early_share']:g}, late {p['late_share']:g}, bots {p['bot_share']:g}, "
           f"retrying {p['retry_share']:g}")  # fmt: skip
    bots = (f"{p['bot_accounts']} accounts over {p['bot_devices']} devices and "
            f"{p['bot_ip_pool']} IPs")  # fmt: skip
    setup = summary.get("setup", {})
    shape = (f"{p['users']} users at {p['spawn_rate']:g}/s, window opens after "
             f"{p['window_opens_after_s']:g} s, spike {p['spike_s']:g} s, decay "
             f"{p['decay_s']:g} s, {p['duration_s']:g} s in all")  # fmt: skip
    if setup.get("shape") == "constant":
        shape = f"constant: {p['users']} users for {p['duration_s']:g} s"
    elif setup.get("shape_cut"):
        shape += f" — TRUNCATED: {setup['shape_cut']}"
    rows = [
        ("shape", shape),
        ("model", model),
        ("population mix (weights)", mix),
        ("wool-puller ring", bots),
        ("customers drawn from / client timeout", f"{p['customers']} / {p['timeout_s']:g} s"),
    ]
    return rows + _open_model_rows(summary.get("open_model"))


def _open_model_rows(stats: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """How closely the customers' new claims followed the target (open model only)."""
    if not stats:
        return []
    errors = (f"mean {_pct(stats['per_second_error_mean'])}, p95 "
              f"{_pct(stats['per_second_error_p95'])}, max {_pct(stats['per_second_error_max'])}"
              f" (Poisson noise alone: {_pct(stats['poisson_error_mean'])})")  # fmt: skip
    return [
        ("customers' claims sent / target (open model)",
         f"{stats['arrivals_sent']} / {stats['target_claims']} "
         f"({_pct(stats['offered_ratio'])})"),
        ("per-second error of the offered rate", errors),
        ("arrivals that waited > 0.1 s for a free user", _pct(stats["late_arrival_share"])),
    ]  # fmt: skip


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _outcome_table(summary: dict[str, Any]) -> str:
    attempts, fates = summary["outcomes"], summary["request_fates"]
    body = "".join(
        f"<tr><td>{html.escape(label)}</td><td class=n>{attempts[name]}</td>"
        f"<td class=n>{fates[name]}</td></tr>"
        for name, label in _OUTCOME_LABELS.items()
        if name in _ALWAYS or attempts[name] or fates[name]
    )
    head = "<tr><th>outcome</th><th>attempts</th><th>request ids (final)</th></tr>"
    return f"<table>{head}{body}</table>"


def _checks(checks: list[dict[str, Any]]) -> str:
    return "".join(
        f"{_mark(c['passed'])}"
        f"<td>{html.escape(c['name'])}</td><td>{html.escape(check_values(c['values']))}</td>"
        f"<td>{html.escape('' if c['passed'] else c['detail'])}</td></tr>"
        for c in checks
    )


def _mark(passed: bool) -> str:
    """The start of a check's or a threshold's row: coloured, with ✔ or ✘."""
    return f"<tr class={'ok' if passed else 'bad'}><td>{'✔' if passed else '✘'}</td>"


def check_values(values: dict[str, Any]) -> str:
    """A check's values as ``key=value, …`` (epoch instants as local ISO times)."""
    return ", ".join(f"{k}={_value(k, v)}" for k, v in values.items())


def _value(key: str, value: Any) -> Any:
    """An epoch instant (``…_s`` after 2001) as local ISO time; anything else as it is."""
    epoch = key.endswith("_s") and isinstance(value, float | int) and value > 1e9
    return local_time(float(value)) if epoch else value


def _thresholds(summary: dict[str, Any]) -> str:
    """Each threshold set (command line or profile) with the measured value."""
    rows = [
        f"{_mark(c['passed'])}<td>{c['name']}</td><td>{c['bound']}</td><td>{c['measured']}</td></tr>"
        for c in summary["thresholds"].get("checked", [])
    ]
    if not rows:
        return ("<p>No threshold set (<code>--max-p99-ms</code>, <code>--min-rps</code>, "
                "<code>--min-issued-rps</code>, <code>--max-error-rate</code>).</p>")  # fmt: skip
    head = "<tr><th></th><th>threshold</th><th>bound</th><th>measured</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _cpu(summary: dict[str, Any]) -> str:
    """Whose CPU was the limit: the conclusion, then per process the generator's and the
    server's CPU, then every warning."""
    generator = summary["load_generator_cpu"]
    server = summary.get("server_cpu") or {"sampled": False, "processes": {}, "warnings": []}
    conclusion = summary.get("bottleneck", "")
    rows = "".join(
        _cpu_row(side, pid, process)
        for side, summary_of_side in (("Locust", generator), ("server", server))
        for pid, process in summary_of_side["processes"].items()
    )
    head = ("<tr><th>process</th><th>pid</th><th>max CPU</th><th>mean CPU</th>"
            "<th>s ≥ 90%</th><th>max loop lag ms</th></tr>")  # fmt: skip
    machine = server.get("machine_max_percent")
    notes = [
        f"Machine CPU (all cores) peaked at {machine:.0f}%."
        if machine is not None
        else "Server CPU not sampled (the server was not started by couponlab loadtest)."
    ]
    warnings = generator["warnings"] + server["warnings"]
    if warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
        notes.append(f"</p><ul class=warn>{items}</ul><p>")
    else:
        notes.append("No process was saturated or starved.")
    return (f"<p class=verdict><b>Bottleneck:</b> {html.escape(conclusion)}</p>"
            f"<table>{head}{rows}</table><p>{' '.join(notes)}</p>")  # fmt: skip


def _cpu_row(side: str, pid: str, process: dict[str, Any]) -> str:
    """One process of ``side`` (``Locust`` or ``server``); the loop lag only Locust measures."""
    lag_ms = process.get("max_loop_lag_ms")
    return (f"<tr><td>{side} {process['role']}</td><td>{pid}</td>"
            f"<td class=n>{process['max_percent']:.0f}%</td>"
            f"<td class=n>{process['mean_percent']:.0f}%</td>"
            f"<td class=n>{process['seconds_saturated']}</td>"
            f"<td class=n>{'–' if lag_ms is None else f'{lag_ms:.0f}'}</td></tr>")  # fmt: skip


def _figure(title: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    caption = html.escape(title)
    image = f"<img alt='{caption}' src='data:image/png;base64,{data}'>"
    return f"<figure><figcaption>{caption}</figcaption>{image}</figure>"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }}
h1 {{ font-size: 1.6em; margin-bottom: .2em; }} h2 {{ margin-top: 1.6em; font-size: 1.2em; }}
.badge {{ display: inline-block; padding: .15em .7em; border-radius: .3em; color: #fff;
          font-weight: 700; margin-left: .4em; }}
.badge.ok {{ background: #2a7d2e; }} .badge.bad {{ background: #b3261e; }}
table {{ border-collapse: collapse; margin: .6em 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .3em .8em; text-align: left;
          vertical-align: top; }}
th {{ background: #f5f5f5; font-weight: 600; }} td.n {{ text-align: right; }}
tr.bad td {{ background: #fdecea; }}
tr.ok td:first-child {{ color: #2a7d2e; }} tr.bad td:first-child {{ color: #b3261e; }}
ul.warn li {{ color: #8a4b00; }} p.when {{ color: #555; margin-top: 0; }}
figure {{ margin: 1.2em 0; }} figcaption {{ font-weight: 600; margin-bottom: .3em; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
.cols {{ display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }}
</style></head><body>
<h1>{title} <span class="badge {badge_class}">{badge}</span></h1>
<p class=when>{when}</p>
<h2>Verdict (the server's records against every answer the clients got)</h2>
<table><tr><th></th><th>check</th><th>values</th><th>detail</th></tr>{checks}</table>
<h2>Thresholds</h2>
{thresholds}
<h2>Setup</h2>
<table>{setup}</table>
<h2>Result</h2>
<div class="cols"><table>{facts}</table>{outcomes}</div>
<h2>Load offered</h2>
<table>{load}</table>
<h2>CPU: load generator and server</h2>
{cpu}
{images}
</body></html>
"""
