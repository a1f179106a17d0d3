"""What every Locust process records, and how the records of all processes are merged.

Jepsen-style: each claim attempt is written as one row with the client's view of its outcome —
``ok`` (201 with a coupon id), a definite rejection (status and error code), or ``unknown``
(timeout, connection error, 5xx, or still in flight when the process stopped: the server may or
may not have issued a coupon). Every process writes its own files into one directory, named by
its run id and its pid, so processes never share a file and a run never reads another run's
rows (the run id is made by the master when the test starts and written into ``run.json``).
Latency percentiles come from an HdrHistogram built from these rows after the run, so the
histogram and the outcome counts always describe the same attempts (a response that lands
after a process's last flush is still in its CSV):

- ``claims-<run id>-<pid>.csv``: one row per attempt (:data:`COLUMNS`);
- ``cpu-<run id>-<pid>.csv``: :data:`CPU_COLUMNS` sampled once a second
  (:func:`loadtest.harness.sample_cpu`).

:func:`by_pid` groups any per-process samples (these, or the server's) by process.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol, TypeVar

from hdrh.histogram import HdrHistogram

COLUMNS = (
    "request_id",
    "user_class",
    "attempt",
    "customer_id",
    "card",
    "device_id",
    "ip",
    "sent_s",
    "done_s",
    "status",
    "error",
    "outcome",
    "coupon_id",
    "claimed_s",
    "due_s",
)
CPU_COLUMNS = ("t_s", "cpu_percent", "role", "loop_lag_ms", "users")  # pid: in the file name
HISTOGRAM_RANGE_US = (1, 120_000_000, 3)  # 1 µs .. 120 s, 3 significant digits

# outcome class by HTTP status, then by error code; anything else 4xx is a definite rejection
_BY_ERROR = {
    "sold_out": "sold_out",
    "daily_sold_out": "sold_out",
    "budget_exhausted": "sold_out",
    "limit_reached": "limit",
    "risk_rejected": "risk_rejected",
    "not_eligible": "not_eligible",
    "not_open": "not_open",
    "rate_limited": "rate_limited",
}
UNKNOWN = frozenset({"timeout", "connection_error", "5xx", "in_flight"})
# Answers that come out of the store's idempotent step (``engine.http.handlers``: the store
# looks the request id up, then records or replays its one outcome): only these say what became
# of an earlier attempt of the same request id. A 429 (per-IP rate limit) or another 4xx (bad
# input, unknown stock, request_conflict) is answered before that lookup, so after a timeout the
# request id stays unknown.
SETTLING = frozenset({"ok", "sold_out", "limit", "risk_rejected", "not_eligible", "not_open"})
OUTCOMES = (
    "ok",
    "sold_out",
    "limit",
    "risk_rejected",
    "not_eligible",
    "not_open",
    "rate_limited",
    "rejected_other",
    "5xx",
    "timeout",
    "connection_error",
    "in_flight",
)


def classify(status: int, error_code: str, transport_error: str = "") -> str:
    """The outcome class of one attempt (one of :data:`OUTCOMES`)."""
    if status == 0:
        text = transport_error.lower()
        return "timeout" if "timed out" in text or "timeout" in text else "connection_error"
    if status == 201:
        return "ok"
    if status >= 500:
        return "5xx"
    if status == 429:
        return "rate_limited"
    return _BY_ERROR.get(error_code, "rejected_other")


class Attempt(NamedTuple):
    """One recorded claim attempt (a CSV row)."""

    request_id: str
    user_class: str
    attempt: int
    customer_id: str
    card: str
    device_id: str
    ip: str
    sent_s: float
    done_s: float
    status: int
    error: str
    outcome: str
    coupon_id: str
    claimed_s: float
    due_s: float = 0.0  # open model: when the customer arrived (sent_s - due_s: a free
    # user was late); 0 in the closed model

    @property
    def latency_s(self) -> float:
        return self.done_s - self.sent_s

    @property
    def unknown(self) -> bool:
        return self.outcome in UNKNOWN


def record_name(kind: str, run_id: str, pid: int) -> str:
    """``<kind>-<run id>-<pid>.csv`` (``<kind>-<pid>.csv`` without a run id)."""
    return f"{kind}-{run_id}-{pid}.csv" if run_id else f"{kind}-{pid}.csv"


def record_files(directory: Path, kind: str, run_id: str = "") -> list[Path]:
    """The ``kind`` files (``claims``, ``cpu``) of run ``run_id`` in ``directory`` (every
    run's when ``run_id`` is empty), sorted."""
    pattern = f"{kind}-{run_id}-*.csv" if run_id else f"{kind}-*.csv"
    return sorted(directory.glob(pattern))


def _pid_of(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


class Recorder:
    """Per-process writer. Opens its files lazily (after Locust forked its processes), named
    by ``run_id`` (set when the test starts) and the pid."""

    def __init__(self, directory: Path, run_id: str = "") -> None:
        self.directory = directory
        self.run_id = run_id
        self._pid = 0
        self._file: object = None
        self._writer: object = None

    def begin(self, run_id: str) -> None:
        """A test starts: later rows go to this run's file."""
        if run_id != self.run_id:
            self.close()
            self.run_id = run_id

    def _open(self) -> None:
        """Start this process's files ('a': a reopen after close() keeps earlier rows)."""
        self._pid = os.getpid()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / record_name("claims", self.run_id, self._pid)
        fresh = not path.exists()
        handle = open(path, "a", newline="")  # noqa: SIM115
        self._file = handle
        self._writer = csv.writer(handle)
        if fresh:
            self._writer.writerow(COLUMNS)

    def write(self, attempt: Attempt) -> None:
        """Record one finished (or abandoned) attempt."""
        if self._pid != os.getpid():
            self._open()
        self._writer.writerow(attempt)  # type: ignore[attr-defined]

    def flush(self) -> None:
        """Flush the rows to disk."""
        if self._pid != os.getpid():
            return
        self._file.flush()  # type: ignore[attr-defined]

    def close(self) -> None:
        """Flush and close this process's files (a later write reopens them)."""
        if self._pid != os.getpid():
            return
        self.flush()
        self._file.close()  # type: ignore[attr-defined]
        self._pid = 0


def read_attempts(directory: Path, run_id: str = "") -> Iterator[Attempt]:
    """Every attempt recorded by every process of run ``run_id`` (of any run when empty)."""
    for path in record_files(directory, "claims", run_id):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                yield _attempt(row)


def _attempt(row: dict[str, str]) -> Attempt:
    return Attempt(
        row["request_id"],
        row["user_class"],
        int(row["attempt"]),
        row["customer_id"],
        row["card"],
        row["device_id"],
        row["ip"],
        float(row["sent_s"]),
        float(row["done_s"]),
        int(row["status"]),
        row["error"],
        row["outcome"],
        row["coupon_id"],
        float(row["claimed_s"] or 0.0),
        float(row.get("due_s") or 0.0),
    )


def merged_histogram(directory: Path, run_id: str = "") -> HdrHistogram:
    """The HdrHistogram (microseconds) of every finished attempt of every process."""
    total = HdrHistogram(*HISTOGRAM_RANGE_US)
    for attempt in read_attempts(directory, run_id):
        if attempt.outcome != "in_flight":
            total.record_value(max(1, round(attempt.latency_s * 1e6)))
    return total


@dataclass(frozen=True)
class CpuSample:
    """One second of one Locust process (``role``: ``master``, ``worker`` or ``local``)."""

    pid: int
    role: str
    t_s: float
    cpu_percent: float
    loop_lag_ms: float = 0.0
    users: int = 0  # running Locust users of this process (0 on a master)


def read_cpu(directory: Path, run_id: str = "") -> list[CpuSample]:
    """CPU samples of every Locust process (master, workers or a single local process)."""
    samples = []
    for path in record_files(directory, "cpu", run_id):
        pid = _pid_of(path)
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                samples.append(
                    CpuSample(
                        pid,
                        row["role"],
                        float(row["t_s"]),
                        float(row["cpu_percent"]),
                        float(row.get("loop_lag_ms") or 0.0),
                        int(row.get("users") or 0),
                    )
                )
    return samples


class _ProcessSample(Protocol):
    @property
    def pid(self) -> int: ...

    @property
    def t_s(self) -> float: ...


SampleT = TypeVar("SampleT", bound=_ProcessSample)


def by_pid(samples: Iterable[SampleT]) -> dict[int, list[SampleT]]:
    """Samples grouped by process: pids in ascending order, each process's samples in time
    order (what the CPU summaries, the plots and the running-users series read)."""
    grouped: dict[int, list[SampleT]] = {}
    for sample in sorted(samples, key=lambda s: (s.pid, s.t_s)):
        grouped.setdefault(sample.pid, []).append(sample)
    return grouped


class RequestFate(NamedTuple):
    """The client's final knowledge of one request id over all its attempts."""

    request_id: str
    outcome: str  # "ok", a definite rejection, or an unknown class
    coupon_id: str
    attempts: int
    first_sent_s: float
    last_done_s: float


def fates(attempts: Iterable[Attempt]) -> dict[str, RequestFate]:
    """Fold attempts by request id: a 201 anywhere wins, then an answer of the store's
    idempotent step (:data:`SETTLING`), then any unknown attempt (the id stays unknown: a 429
    after a timeout says nothing about the timed-out attempt), else the definite answer.

    A replay of a request id returns its first outcome, so settling answers of one id agree;
    the checker verifies that separately.
    """
    folded: dict[str, RequestFate] = {}
    for a in attempts:
        prior = folded.get(a.request_id)
        if prior is None:
            folded[a.request_id] = RequestFate(
                a.request_id, a.outcome, a.coupon_id, 1, a.sent_s, a.done_s
            )
            continue
        outcome, coupon = prior.outcome, prior.coupon_id
        if _rank(a.outcome) > _rank(outcome):
            outcome, coupon = a.outcome, a.coupon_id
        folded[a.request_id] = RequestFate(
            a.request_id,
            outcome,
            coupon,
            prior.attempts + 1,
            min(prior.first_sent_s, a.sent_s),
            max(prior.last_done_s, a.done_s),
        )
    return folded


def _rank(outcome: str) -> int:
    """How much an attempt's outcome says about its request id (the highest wins)."""
    if outcome == "ok":
        return 3
    if outcome in SETTLING:
        return 2
    return 1 if outcome in UNKNOWN else 0
