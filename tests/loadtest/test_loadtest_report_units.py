"""The report's parts on crafted data: CPU warnings and the bottleneck, the CPU samples' one
row format and the server's sampler, the shape's truncation, issued-per-second and its
threshold, the open model's arrival clock and its accuracy, the time series' file, records named
by run id, and instants shown as local ISO times."""

from __future__ import annotations

import csv
import datetime as dt
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loadtest.cpu import (
    SERVER_COLUMNS,
    CpuLog,
    ServerCpuSampler,
    ServerSample,
    bottleneck,
    generator_summary,
    read_server_cpu,
    server_summary,
)
from loadtest.harness import new_run_id, remove_other_runs
from loadtest.page import check_values, local_time, render
from loadtest.profile import Profile, load_target, shape_cut, target_rate_at
from loadtest.records import (
    CPU_COLUMNS,
    Attempt,
    CpuSample,
    Recorder,
    by_pid,
    read_attempts,
    read_cpu,
    record_name,
)
from loadtest.report import threshold_checks
from loadtest.series import SERIES_COLUMNS, RunInfo, open_model, write_series

SCENARIO = Path(__file__).with_name("flash_small.toml")
OUTCOME_NAMES = ("ok", "sold_out", "limit", "risk_rejected", "not_eligible", "not_open",
                 "rate_limited", "rejected_other", "5xx", "timeout", "connection_error",
                 "in_flight")  # fmt: skip
FRIDAY = Path(__file__).parents[2] / "scenarios" / "friday_flash_sale.toml"
OPEN_S = 1_800_000_000.0


def cpu_rows(pid: int, percents: list[float], lags: list[float] | None = None) -> list[CpuSample]:
    lags = lags or [5.0] * len(percents)
    return [CpuSample(pid, "local", OPEN_S + i, cpu, lag, 10)
            for i, (cpu, lag) in enumerate(zip(percents, lags, strict=True))]  # fmt: skip


def test_a_generator_at_90_percent_of_a_core_is_warned_about() -> None:
    summary = generator_summary(cpu_rows(7, [40.0, 95.0, 99.0, 60.0]))
    assert summary["processes"]["7"]["seconds_saturated"] == 2
    assert summary["processes"]["7"]["max_percent"] == 99.0
    assert summary["processes"]["7"]["mean_percent"] == 73.5
    [warning] = summary["warnings"]
    assert "Locust process 7 (local) was at >= 90% CPU for 2 s" in warning


def test_a_generator_whose_loop_wakes_late_is_warned_about() -> None:
    summary = generator_summary(cpu_rows(8, [30.0, 35.0], lags=[10.0, 400.0]))
    [warning] = summary["warnings"]
    assert "Locust process 8 (local) lagged up to 400 ms" in warning


def test_a_calm_generator_gets_no_warning() -> None:
    summary = generator_summary(cpu_rows(9, [50.0, 89.9], lags=[10.0, 249.0]))
    assert summary["warnings"] == [] and summary["processes"]["9"]["seconds_saturated"] == 0


def server_rows(pid: int, role: str, percents: list[float], machine: float = 50.0) -> list[Any]:
    return [ServerSample(pid, role, OPEN_S + i, cpu, machine) for i, cpu in enumerate(percents)]


def test_a_saturated_server_is_named_the_bottleneck() -> None:
    server = server_summary(server_rows(20, "main", [70.0, 98.0, 97.0]))
    assert server["processes"]["20"]["seconds_saturated"] == 2
    assert "server process 20 (main) was at >= 90% CPU for 2 s" in server["warnings"][0]
    calm = generator_summary(cpu_rows(7, [40.0, 50.0]))
    assert bottleneck(calm, server).startswith("the server limited the load")
    busy = generator_summary(cpu_rows(7, [95.0, 95.0]))
    assert bottleneck(busy, server).startswith("both the server and the load generator")
    idle = server_summary(server_rows(20, "main", [30.0]))
    assert bottleneck(busy, idle).startswith("the load generator limited the load")
    assert bottleneck(calm, idle).startswith("neither")


def test_a_busy_machine_and_an_unsampled_server_are_said() -> None:
    busy = server_summary(server_rows(21, "worker", [60.0, 60.0], machine=99.0))
    assert busy["machine_seconds_busy"] == 2 and "every CPU of the machine" in busy["warnings"][0]
    calm = generator_summary(cpu_rows(7, [40.0]))
    assert bottleneck(calm, busy).endswith("every core of the machine was busy at times")
    unsampled = server_summary([])
    assert not unsampled["sampled"] and "server CPU not sampled" in bottleneck(calm, unsampled)


def test_samples_are_grouped_by_process_in_time_order() -> None:
    late, early = cpu_rows(9, [1.0, 2.0]), cpu_rows(3, [5.0])
    grouped = by_pid([late[1], early[0], late[0]])
    assert list(grouped) == [3, 9] and grouped[9] == late  # pids ascending, each in time order
    assert by_pid([]) == {}


def test_both_sides_samples_share_one_row_format(tmp_path: Path) -> None:
    generator = CpuSample(42, "worker", OPEN_S + 0.1234, 97.25, 12.34, 30)
    path = tmp_path / record_name("cpu", "run1", 42)  # the pid is in the file name
    with CpuLog(path, CPU_COLUMNS) as log:
        log.write(generator)
    assert path.read_text() == ("t_s,cpu_percent,role,loop_lag_ms,users\n"
                                "1800000000.123,97.2,worker,12.3,30\n")  # fmt: skip
    assert read_cpu(tmp_path, "run1") == [CpuSample(42, "worker", 1800000000.123, 97.2, 12.3, 30)]
    server = [ServerSample(7, "main", OPEN_S, 50.06, 75.0),
              ServerSample(8, "worker", OPEN_S, 1.0, 75.0)]  # fmt: skip
    with CpuLog(tmp_path / "server_cpu.csv", SERVER_COLUMNS) as log:
        log.write(*server)
    assert (tmp_path / "server_cpu.csv").read_text().splitlines()[1:] == [
        "1800000000.000,7,main,50.1,75.0", "1800000000.000,8,worker,1.0,75.0"]  # fmt: skip
    assert read_server_cpu(tmp_path / "server_cpu.csv")[0] == ServerSample(7, "main", OPEN_S,
                                                                           50.1, 75.0)  # fmt: skip


def test_the_server_sampler_reports_the_server_and_its_workers(tmp_path: Path) -> None:
    """A shell (the server) with one child (a worker), sampled every 0.1 s in a thread: both
    are reported by role, a new process from its second reading on; nothing after the exit."""
    path = tmp_path / "server_cpu.csv"
    shell = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        with ServerCpuSampler(shell.pid, path, interval_s=0.1):
            deadline = time.monotonic() + 20
            while {s.role for s in read_server_cpu(path)} != {"main", "worker"}:
                assert time.monotonic() < deadline, path.read_text()
                time.sleep(0.05)
    finally:
        shell.kill()
        shell.wait()
    samples = read_server_cpu(path)
    assert {s.pid for s in samples if s.role == "main"} == {shell.pid}
    assert all(0 <= s.cpu_percent <= 100 and 0 <= s.machine_percent <= 100 for s in samples)
    with path.open(newline="") as handle:
        assert tuple(next(csv.reader(handle))) == SERVER_COLUMNS


def test_the_cpu_table_has_one_row_per_process_of_each_side() -> None:
    generator = generator_summary(cpu_rows(7, [40.0, 95.0], lags=[5.0, 300.0]))
    server = server_summary(server_rows(20, "main", [70.0, 98.0]))
    page = render(report_summary(generator, server), {})
    assert "<tr><td>Locust local</td><td>7</td><td class=n>95%</td><td class=n>68%</td>" in page
    assert "<td class=n>1</td><td class=n>300</td></tr>" in page  # saturated 1 s, lag 300 ms
    assert "<tr><td>server main</td><td>20</td><td class=n>98%</td>" in page
    assert "<td class=n>1</td><td class=n>–</td></tr>" in page  # the server has no loop lag


def report_summary(generator: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    """The least ``summary.json`` the page renders."""
    latency = dict.fromkeys(("p50", "p90", "p99", "p99.9", "max"), 1.0) | {"count": 1}
    profile = Profile().to_dict()
    return {"scenario": "s", "seed": 1, "store": "memory", "server_workers": 1,
            "locust_processes": 1, "stock_id": "s", "window_open_s": OPEN_S, "profile": profile,
            "verdict": {"passed": True, "checks": []}, "thresholds": {"passed": True},
            "latency_ms": latency, "sellout": {"sellout_s": None, "issued": 1, "quota": 1},
            "throughput": {"mean_rps_after_open": 1, "peak_offered_rps": 1, "peak_rps": 1},
            "error_rate": 0.0, "attempt_error_rate": 0.0, "retried_attempts": 0,
            "outcomes": dict.fromkeys(OUTCOME_NAMES, 0),
            "request_fates": dict.fromkeys(OUTCOME_NAMES, 0),
            "load_generator_cpu": generator, "server_cpu": server, "bottleneck": "b"}  # fmt: skip


def test_a_duration_shorter_than_the_shape_is_flagged() -> None:
    whole = Profile(window_opens_after_s=5, spike_s=10, decay_s=20, duration_s=35)
    assert shape_cut(whole) == ""
    assert shape_cut(whole.replace(duration_s=30)) == (
        "decay cut to 15 of 20 s (duration 30 s < 5 + 10 + 20 s)"
    )
    assert shape_cut(whole.replace(duration_s=8)).startswith("spike cut to 3 of 10 s, no decay")


def test_the_shipped_profile_lasts_its_whole_shape() -> None:
    profile = load_target(FRIDAY).profile  # duration_s = 30 set, decay_s left to the default
    assert shape_cut(profile) == ""
    assert profile.window_opens_after_s + profile.spike_s + profile.decay_s == profile.duration_s
    assert shape_cut(Profile()) == ""  # the load test's own defaults agree too


def test_without_a_duration_the_test_lasts_the_whole_shape(tmp_path: Path) -> None:
    scenario = tmp_path / "no_duration.toml"
    scenario.write_text(SCENARIO.read_text().replace("duration_s = 12\n", ""))
    profile = load_target(scenario).profile
    assert profile.duration_s == 3 + 4 + 4 and shape_cut(profile) == ""


def test_issued_per_second_has_its_own_threshold() -> None:
    summary = {
        "latency_ms": {"p99": 10.0},
        "error_rate": 0.0,
        "throughput": {"mean_rps_after_open": 5000.0, "issued_rps_after_open": 12.0},
    }
    checks = threshold_checks(summary, Profile(min_rps=1000, min_issued_rps=100))  # fmt: skip
    held = {c["name"]: c["passed"] for c in checks}
    assert held == {"min_rps": True, "min_issued_rps": False}  # a fast "no" is not an issue
    assert "mean issued (201) rps 12.0 < min_issued_rps 100" in checks[1]["miss"]


def test_poisson_arrivals_follow_the_shape_of_the_target_rate() -> None:
    from loadtest.arrivals import arrival_times

    profile = Profile(users=100, arrival_rate_per_s=400, window_opens_after_s=1, spike_s=4,
                      decay_s=4, duration_s=9, late_share=0.25)  # fmt: skip
    times = list(arrival_times(lambda t: target_rate_at(profile, t), 400, 9, random.Random(3)))
    assert times == sorted(times) and all(1 <= t < 9 for t in times)  # none before the opening
    spike = sum(1 for t in times if 1 <= t < 5)  # 4 s at 400/s
    decay = sum(1 for t in times if 5 <= t < 9)  # linear from 400/s down to 100/s
    assert spike == pytest.approx(1600, abs=4 * 40)  # 4 sigma of a Poisson count
    assert decay == pytest.approx(1000, abs=4 * 32)


def arrivals(rates: list[int], late_s: float = 0.0) -> list[Attempt]:
    """Customers' first attempts: ``rates[i]`` sent in second i after the opening."""
    rows = []
    for second, count in enumerate(rates):
        for k in range(count):
            sent_s = OPEN_S + second + k / max(count, 1)
            rows.append(Attempt(f"r{second}.{k}", "EarlyCustomer", 1, "c", "k", "d", "ip",
                                sent_s, sent_s + 0.01, 201, "", "ok", "s", sent_s,
                                sent_s - late_s))  # fmt: skip
    return rows


def test_the_open_model_reports_its_error_against_the_target() -> None:
    profile = Profile(users=10, arrival_rate_per_s=100, window_opens_after_s=1, spike_s=4,
                      decay_s=0, duration_s=5)  # fmt: skip
    info = RunInfo("s", 1, "memory", 1, 1, profile, {"id": "s"}, OPEN_S, OPEN_S - 1)
    bots = [a._replace(user_class="WoolPullerBot") for a in arrivals([500] * 4)]
    stats = open_model(info, arrivals([100, 90, 110, 100]) + bots)  # bots are not arrivals
    assert stats is not None
    assert (stats["target_claims"], stats["arrivals_sent"], stats["offered_ratio"]) == (400, 400, 1)
    assert stats["per_second_error_mean"] == 0.05 and stats["per_second_error_max"] == 0.1
    assert stats["late_arrival_share"] == 0
    late = open_model(info, arrivals([100] * 4, late_s=0.5))
    assert late is not None and late["late_arrival_share"] == 1.0
    assert open_model(dataclass_closed(info), arrivals([1])) is None


def test_the_open_models_p95_error_is_numpys_percentile() -> None:
    profile = Profile(users=10, arrival_rate_per_s=100, window_opens_after_s=1, spike_s=5,
                      decay_s=0, duration_s=6)  # fmt: skip
    info = RunInfo("s", 1, "memory", 1, 1, profile, {"id": "s"}, OPEN_S, OPEN_S - 1)
    stats = open_model(info, arrivals([100, 100, 100, 100, 110]))
    errors = [0.0, 0.0, 0.0, 0.0, 0.1]
    assert stats is not None and stats["per_second_error_p95"] == pytest.approx(0.08)
    assert stats["per_second_error_p95"] == round(float(np.percentile(errors, 95)), 4)
    assert stats["per_second_error_max"] == 0.1


def test_the_time_series_file_has_its_columns_in_order(tmp_path: Path) -> None:
    row = dict.fromkeys(SERIES_COLUMNS, 1.0) | {"t_s": -2, "p99_ms": float("nan")}
    path = tmp_path / "timeseries.csv"
    path.write_text("stale\n")
    write_series(path, [row, row | {"t_s": -1}])
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(SERIES_COLUMNS) and len(lines) == 3  # replaced, not appended
    assert lines[1].startswith("-2,1.0,") and ",nan," in lines[1] and lines[2].startswith("-1,")
    write_series(path, [])
    assert path.read_text().splitlines() == [",".join(SERIES_COLUMNS)]
    with pytest.raises(AssertionError, match="issued"):
        write_series(path, [{k: v for k, v in row.items() if k != "issued"}])


def dataclass_closed(info: RunInfo) -> RunInfo:
    import dataclasses

    return dataclasses.replace(info, profile=info.profile.replace(arrival_rate_per_s=0.0))


def test_records_of_another_run_are_neither_read_nor_kept(tmp_path: Path) -> None:
    old, new = new_run_id(), new_run_id()
    assert old != new and "-" not in old
    for run_id in (old, new):
        recorder = Recorder(tmp_path, run_id)
        recorder.write(arrivals([1])[0]._replace(request_id=run_id))
        recorder.close()
        (tmp_path / record_name("cpu", run_id, 42)).write_text("t_s,cpu_percent,role\n")
    assert [a.request_id for a in read_attempts(tmp_path, new)] == [new]
    assert remove_other_runs(tmp_path, new) == 2  # the old claims and CPU files
    assert sorted(p.name.split("-")[1] for p in tmp_path.iterdir()) == [new, new]


def test_instants_are_shown_as_local_iso_times() -> None:
    moment = dt.datetime.fromtimestamp(OPEN_S + 0.25).astimezone()
    shown = local_time(OPEN_S + 0.25)
    assert shown == f"{moment.isoformat(timespec='milliseconds')} {moment.tzname()}"
    assert shown[23:29] == moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]  # offset
    values = check_values({"window_open_s": OPEN_S, "first_claim_after_open_s": 0.1})
    assert f"window_open_s={local_time(OPEN_S)}" in values
    assert "first_claim_after_open_s=0.1" in values  # a duration, not an instant
