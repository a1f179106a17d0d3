"""The verdict of a load test, Jepsen-style: what the clients saw against what the server holds.

Pure functions over the recorded attempts (:mod:`loadtest.records`) and the server's answers to
``GET /v1/stocks/{id}`` (the stock and its STATUS), ``GET /v1/stocks/{id}/claims`` (every issued
coupon and every limit counter) and ``GET /v1/stocks/{id}/reconciliation``. Nothing here trusts
the server's own invariant checks: limits are recounted from the claims in the stock's timezone.

Every check names itself, says pass/fail, and carries the values it compared.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from loadtest.records import SETTLING, UNKNOWN, Attempt, RequestFate, fates

# claim field holding each limit subject (the natural person is resolved by the server only)
_SUBJECT_FIELD = {"customer": "customer_id", "device": "device_id", "phone": "phone_hash",
                  "card": "card"}  # fmt: skip


@dataclass(frozen=True)
class Check:
    """One invariant: its name, whether it held, and the values behind the answer."""

    name: str
    passed: bool
    values: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [
                {"name": c.name, "passed": c.passed, "values": c.values, "detail": c.detail}
                for c in self.checks
            ],
        }


@dataclass(frozen=True)
class ServerView:
    """What the server says after the run (the JSON bodies of the admin/read endpoints)."""

    stock: Mapping[str, Any]
    status: Mapping[str, Any]
    claims: Sequence[Mapping[str, Any]]
    limits: Sequence[Mapping[str, Any]]
    reconciliation: Mapping[str, Any]


def check(attempts: Sequence[Attempt], server: ServerView, window_open_s: float) -> Verdict:
    """Every check of the verdict, in a fixed order."""
    folded = fates(attempts)
    return Verdict(
        (
            check_load_applied(attempts),
            check_acknowledged_bounds(folded, server),
            check_quota(server),
            check_claims_match_status(server),
            check_limits(server),
            check_unique_coupons(attempts, server),
            check_window(attempts, server, window_open_s),
            check_acknowledged_present(folded, server),
            check_replays_consistent(attempts),
            check_reconciliation(server),
        )
    )


def check_load_applied(attempts: Sequence[Attempt]) -> Check:
    """The clients got answers at all: a verdict over no load proves nothing."""
    answered = sum(1 for a in attempts if not a.unknown)
    values = {"attempts": len(attempts), "answered": answered}
    return Check("load applied (some claims answered)", answered > 0, values)


def check_acknowledged_bounds(folded: Mapping[str, RequestFate], server: ServerView) -> Check:
    """ok ≤ issued ≤ ok + unknown: nothing acknowledged is missing, nothing unasked is issued."""
    ok = sum(1 for f in folded.values() if f.outcome == "ok")
    unknown = sum(1 for f in folded.values() if f.outcome in UNKNOWN)
    issued = int(server.status["issued"])
    values = {"ok": ok, "unknown": unknown, "issued": issued}
    return Check("ok <= issued <= ok + unknown", ok <= issued <= ok + unknown, values)


def check_quota(server: ServerView) -> Check:
    """issued ≤ quota, and per local day ≤ daily_quota when the stock has one."""
    quota = int(server.stock["quota"])
    issued = int(server.status["issued"])
    values: dict[str, Any] = {"issued": issued, "quota": quota, "claims": len(server.claims)}
    passed = issued <= quota and len(server.claims) <= quota
    daily = server.stock.get("daily_quota")
    if daily is not None:
        zone = ZoneInfo(str(server.stock.get("timezone", "Asia/Shanghai")))
        per_day = Counter(_local(c["claimed_s"], zone).date() for c in server.claims)
        busiest = max(per_day.values(), default=0)
        values.update(daily_quota=daily, busiest_day=busiest)
        passed = passed and busiest <= int(daily)
    return Check("issued <= quota", passed, values)


def check_claims_match_status(server: ServerView) -> Check:
    """The claims list and the issued counter tell the same story."""
    issued = int(server.status["issued"])
    return Check(
        "claims list == issued counter",
        len(server.claims) == issued,
        {"claims": len(server.claims), "issued": issued},
    )


def check_limits(server: ServerView) -> Check:
    """No subject exceeded a limit: recounted from the claims, and per the server's counters."""
    zone = ZoneInfo(str(server.stock.get("timezone", "Asia/Shanghai")))
    worst: dict[str, int] = {}
    violations: list[str] = []
    for limit in server.stock.get("limits", []):
        subject, period, count = limit["subject"], limit["period"], int(limit["count"])
        name = f"{subject}/{period}<={count}"
        source = _SUBJECT_FIELD.get(subject)
        if source is None:
            continue  # natural person: only the server can resolve it; see its counters below
        used = Counter(
            (claim.get(source, ""), _period_key(period, claim["claimed_s"], zone))
            for claim in server.claims
        )
        worst[name] = max(used.values(), default=0)
        violations += [f"{name}: {key[0]} used {n}" for key, n in used.items() if n > count]
    for counter in server.limits:
        limit = counter["limit"]
        if int(counter["used"]) > int(limit["count"]):
            violations.append(
                f"server counter {limit['subject']}/{limit['period']} "
                f"{counter['subject_value']} used {counter['used']} > {limit['count']}"
            )
    values = {"max_used": worst, "violations": len(violations)}
    return Check("no limit exceeded", not violations, values, "; ".join(violations[:5]))


def check_unique_coupons(attempts: Iterable[Attempt], server: ServerView) -> Check:
    """No coupon id twice on the server, and no coupon id acknowledged to two request ids."""
    on_server = Counter(str(c["coupon_id"]) for c in server.claims)
    server_dups = sorted(cid for cid, n in on_server.items() if n > 1)
    owners: dict[str, set[str]] = defaultdict(set)
    for a in attempts:
        if a.outcome == "ok":
            owners[a.coupon_id].add(a.request_id)
    client_dups = sorted(cid for cid, ids in owners.items() if len(ids) > 1)
    values = {"server_duplicates": len(server_dups), "client_duplicates": len(client_dups)}
    detail = ", ".join((server_dups + client_dups)[:5])
    return Check("no duplicate coupon id", not server_dups and not client_dups, values, detail)


def check_window(attempts: Iterable[Attempt], server: ServerView, window_open_s: float) -> Check:
    """No coupon claimed before the window opened (server clock), none acknowledged to a client
    before it (client clock, same machine)."""
    early = [c for c in server.claims if float(c["claimed_s"]) < window_open_s]
    answered_early = [a for a in attempts if a.outcome == "ok" and a.done_s < window_open_s]
    first = min((float(c["claimed_s"]) for c in server.claims), default=None)
    values = {
        "window_open_s": window_open_s,
        "first_claim_after_open_s": None if first is None else round(first - window_open_s, 6),
        "claims_before_open": len(early),
        "acks_before_open": len(answered_early),
    }
    return Check("no claim before the window opened", not early and not answered_early, values)


def check_acknowledged_present(folded: Mapping[str, RequestFate], server: ServerView) -> Check:
    """Every 201 the clients got names a coupon the server holds, under the same request id."""
    held = {str(c["coupon_id"]): str(c["request_id"]) for c in server.claims}
    lost = [
        f.request_id
        for f in folded.values()
        if f.outcome == "ok" and held.get(f.coupon_id) != f.request_id
    ]
    acknowledged = sum(1 for f in folded.values() if f.outcome == "ok")
    values = {"acknowledged": acknowledged, "missing": len(lost)}
    return Check("every acknowledged coupon present", not lost, values, ", ".join(lost[:5]))


def check_replays_consistent(attempts: Iterable[Attempt]) -> Check:
    """One outcome per request id: every answer of the store's idempotent step to one id is
    the same (a 429 or a 422 is answered before that step and may differ)."""
    answers: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for a in attempts:
        if a.outcome in SETTLING:
            answers[a.request_id].add((a.outcome, a.coupon_id))
    split = sorted(rid for rid, seen in answers.items() if len(seen) > 1)
    retried = sum(1 for a in attempts if a.attempt > 1)
    values = {"request_ids": len(answers), "retried_attempts": retried, "inconsistent": len(split)}
    return Check("one outcome per request id", not split, values, ", ".join(split[:5]))


def check_reconciliation(server: ServerView) -> Check:
    """The server's ledger replay reproduces its counters (对账)."""
    rec = server.reconciliation
    values = {"entries": rec.get("entries"), "mismatches": len(rec.get("mismatches") or [])}
    return Check("reconciliation ok", bool(rec.get("ok")), values, str(rec.get("mismatches"))[:200])


def _local(epoch_s: Any, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(epoch_s), zone)


def _period_key(period: str, epoch_s: Any, zone: ZoneInfo) -> Any:
    date = _local(epoch_s, zone).date()
    if period == "day":
        return date
    if period == "week":
        return date.isocalendar()[:2]
    if period == "month":
        return (date.year, date.month)
    return "campaign"
