"""Profile parsing, the flash-sale schedule, outcome classes and the folding of attempts."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InvalidDefinition
from loadtest.checker import ServerView
from loadtest.profile import Profile, load_target, profile_from_mapping, target_rate_at, users_at
from loadtest.records import (
    Attempt,
    CpuSample,
    Recorder,
    classify,
    fates,
    merged_histogram,
    read_attempts,
)
from loadtest.report import threshold_checks
from loadtest.series import RunInfo, timeseries
from loadtest.stock import fresh_stock

SCENARIO = Path(__file__).with_name("flash_small.toml")


def test_the_scenario_gives_the_stock_and_the_profile() -> None:
    target = load_target(SCENARIO)
    assert target.stock_table["quota"] == 300
    assert target.profile.users == 60
    assert target.profile.stock == target.stock_table["id"]
    assert target.profile.bot_share == Profile().bot_share  # defaults fill the rest


@pytest.mark.parametrize(
    ("table", "field"),
    [({"userz": 1}, "load.userz"), ({"users": -1}, "load.users"), ({"stock": 3}, "load.stock")],
)
def test_a_bad_load_table_names_the_key(table: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidDefinition) as error:
        profile_from_mapping(table)
    assert error.value.field == field


def test_the_shape_waits_spikes_decays_and_ends() -> None:
    profile = Profile(users=100, window_opens_after_s=5, spike_s=10, decay_s=20, duration_s=60,
                      late_share=0.3)  # fmt: skip
    assert users_at(profile, 0) == (100, profile.spawn_rate)  # the waiting crowd gathers
    assert users_at(profile, 14.9) == (100, profile.spawn_rate)  # the spike
    assert users_at(profile, 25) == (65, profile.spawn_rate)  # half-way down the decay
    assert users_at(profile, 40) == (30, profile.spawn_rate)  # the tail
    assert users_at(profile, 60) is None


def test_the_open_model_target_follows_the_shape() -> None:
    profile = Profile(users=100, arrival_rate_per_s=500, window_opens_after_s=5, spike_s=10,
                      decay_s=20, duration_s=60, late_share=0.3)  # fmt: skip
    assert target_rate_at(profile, 1) == 0  # nobody claims before the opening
    assert target_rate_at(profile, 6) == 500
    assert target_rate_at(profile, 40) == 150
    assert target_rate_at(Profile(), 6) == 0  # closed model: no target
    assert target_rate_at(profile, 40, flash=False) == 500  # the constant shape: no crowd


def test_the_test_stock_opens_when_asked_without_weekly_slots() -> None:
    target = load_target(SCENARIO)
    table = fresh_stock(target.stock_table, open_s=1_800_000_000.25, duration_s=12)
    assert table["id"].startswith("friday-small.lt")
    assert "weekly" not in table["window"]
    assert table["window"]["start"] == 1_800_000_000.25
    assert table["window"]["end"] > table["window"]["start"] + 12
    assert "eligibility" not in table and table["quota"] == 300
    bigger = fresh_stock(target.stock_table, 1_800_000_000, 12, quota=5000)
    assert bigger["quota"] == 5000 and bigger["budget_fen"] == 5000 * 5000
    assert bigger["id"] != fresh_stock(target.stock_table, 1_800_000_000.001, 12)["id"]


@pytest.mark.parametrize(
    ("status", "code", "transport", "outcome"),
    [
        (201, "", "", "ok"),
        (409, "sold_out", "", "sold_out"),
        (409, "budget_exhausted", "", "sold_out"),
        (409, "limit_reached", "", "limit"),
        (403, "risk_rejected", "", "risk_rejected"),
        (425, "not_open", "", "not_open"),
        (429, "rate_limited", "", "rate_limited"),
        (503, "", "", "5xx"),
        (0, "", "TimeoutError('timed out')", "timeout"),
        (0, "", "ConnectionRefusedError(111)", "connection_error"),
        (422, "invalid", "", "rejected_other"),
    ],
)
def test_outcome_classes(status: int, code: str, transport: str, outcome: str) -> None:
    assert classify(status, code, transport) == outcome


def _attempt(request_id: str, number: int, outcome: str, coupon: str = "") -> Attempt:
    return Attempt(request_id, "RetryingCustomer", number, "c", "k", "d", "ip", float(number),
                   number + 0.5, 0, "", outcome, coupon, 0.0)  # fmt: skip


def test_a_retry_that_gets_the_coupon_makes_the_request_ok() -> None:
    folded = fates([_attempt("a", 1, "timeout"), _attempt("a", 2, "ok", "s.1")])
    assert folded["a"].outcome == "ok" and folded["a"].coupon_id == "s.1"
    assert folded["a"].attempts == 2


def test_only_unknown_attempts_leave_the_request_unknown() -> None:
    folded = fates([_attempt("b", 1, "timeout"), _attempt("b", 2, "5xx")])
    assert folded["b"].outcome == "timeout"


def test_records_round_trip_through_the_files(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    written = [_attempt("a", 1, "ok", "s.1"), _attempt("b", 1, "sold_out")]
    for item in written:
        recorder.write(item)
    recorder.close()
    assert list(read_attempts(tmp_path)) == written
    histogram = merged_histogram(tmp_path)
    assert histogram.get_total_count() == 2
    assert 490_000 <= histogram.get_value_at_percentile(100) <= 510_000  # 0.5 s in µs


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--users", "x"], "argument --users: expected an integer >= 1, got 'x'"),
        (["--users", "0"], "argument --users: expected an integer >= 1, got 0"),
        (
            ["--arrival-rate", "-1"],
            "argument --arrival-rate: expected a finite number >= 0, got -1",
        ),
        (["--max-error-rate", "2"], "argument --max-error-rate: expected a share between 0 and 1"),
        (["--duration", "2"], "--duration = 2.0: expected more than load.window_opens_after_s = 3"),
        (["--duration", "inf"], "argument --duration: expected a finite number > 0, got inf"),
        (["--spawn-rate", "inf"], "argument --spawn-rate: expected a finite number > 0, got inf"),
        (
            ["--arrival-rate", "Infinity"],
            "argument --arrival-rate: expected a finite number >= 0, got Infinity",
        ),
        (
            ["--min-issued-rps=inf"],
            "argument --min-issued-rps: expected a finite number >= 0, got inf",
        ),
        (["--duration", "nan"], "argument --duration: expected a finite number > 0, got nan"),
    ],
)
def test_a_bad_flag_is_named_without_starting_anything(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from couponlab.cli import main

    try:
        code = main(["loadtest", str(SCENARIO), "--out", str(tmp_path / "run"), *flags])
    except SystemExit as stop:  # argparse's own errors
        code = int(stop.code or 0)
    error = capsys.readouterr().err
    assert code == 2 and message in error and "Traceback" not in error
    assert not (tmp_path / "run" / "server.log").exists()  # no server was started


def test_the_wool_puller_ring_comes_from_the_segments(tmp_path: Path) -> None:
    scenario = tmp_path / "rings.toml"
    text = SCENARIO.read_text().replace("bot_accounts = 200\n", "")
    scenario.write_text(
        text
        + """
[[segments]]
name = "ring"
kind = "wool_puller"
rings = 3
accounts_per_ring = 40
devices_per_ring = 4
ips_per_ring = 6
"""
    )
    profile = load_target(scenario).profile
    assert (profile.bot_accounts, profile.bot_devices, profile.bot_ip_pool) == (120, 12, 18)
    explicit = scenario.read_text().replace("[load]\n", "[load]\nbot_devices = 5\n")
    scenario.write_text(explicit)
    assert load_target(scenario).profile.bot_devices == 5  # [load] wins over the segments


def test_the_time_series_shows_the_waiting_crowd_before_the_opening() -> None:
    profile = Profile(users=10, window_opens_after_s=3, spike_s=2, decay_s=2, duration_s=8)
    open_s = 1_800_000_003.0
    info = RunInfo("s", 1, "memory", 1, 1, profile, {"id": "s"}, open_s, open_s - 3)
    attempts = [Attempt("a", "EarlyCustomer", 1, "c", "k", "d", "ip", open_s + 0.1,
                        open_s + 0.2, 201, "", "ok", "s.1", open_s + 0.15)]  # fmt: skip
    cpu = [CpuSample(7, "local", open_s - 2.5 + i, 10.0, 1.0, min(10, 5 * (i + 1)))
           for i in range(4)]  # fmt: skip
    view = ServerView({"quota": 5}, {"issued": 1}, [{"claimed_s": open_s + 0.15}], [], {})
    rows = {row["t_s"]: row for row in timeseries(attempts, view, info, cpu)}
    assert sorted(rows) == [-3, -2, -1, 0]  # from the test's start to the last answer
    assert [rows[t]["users"] for t in (-3, -2, -1, 0)] == [5, 10, 10, 10]
    assert rows[-3]["shape_users"] == 10 and rows[-3]["offered_rps"] == 0
    assert rows[0]["ok_rps"] == 1 and rows[0]["issued"] == 1


def test_thresholds_report_the_bound_and_the_measured_value() -> None:
    summary = {"latency_ms": {"p99": 120.0}, "throughput": {"mean_rps_after_open": None},
               "error_rate": 0.0}  # fmt: skip
    checks = threshold_checks(summary, Profile(max_p99_ms=100, min_rps=10))
    assert [(c["name"], c["bound"], c["measured"], c["passed"]) for c in checks] == [
        ("max_p99_ms", 100, 120.0, False),
        ("min_rps", 10, None, False),  # nothing measured misses its bound
    ]
