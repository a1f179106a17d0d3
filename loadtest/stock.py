"""The stock a load test claims from: the scenario's, rewritten to open a few seconds from now.

A load test is not run on a Friday at 10:00, and it must not reuse a stock an earlier run sold
out. :func:`fresh_stock` turns the scenario's ``[[stocks]]`` table into a fresh stock whose window
opens at a given instant; :func:`create` posts it (``POST /v1/stocks``, admin token). Both the
plain-Locust path (the locustfile creates it when its test starts) and ``couponlab loadtest``
(through the same locustfile) go through here, so the opening is always
``window_opens_after_s`` after the Locust shape's clock starts.

:func:`write_run`/:func:`read_run` keep ``run.json`` in the record directory: which stock was
used and when its window opened, for the checker that reads the server afterwards.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from loadtest.server import ServerError, request_json

RUN_FILE = "run.json"
WINDOW_SLACK_S = 3600.0  # the window stays open this long after the test's end


def fresh_stock(
    table: dict[str, Any], open_s: float, duration_s: float, quota: int | None = None
) -> dict[str, Any]:
    """The scenario's stock rewritten for a test: a fresh id, a window opening at ``open_s``
    without weekly slots, coupons valid a week after claim, open to every customer;
    ``quota`` overrides the quota (the budget grows to cover it)."""
    stock = dict(table)
    millis = round(open_s * 1000)
    stamp = time.strftime("%H%M%S", time.gmtime(millis // 1000)) + f"{millis % 1000:03d}"
    stock["id"] = f"{str(table['id'])[:40]}.lt{stamp}"
    stock["window"] = {
        "start": round(open_s, 3),
        "end": round(open_s + duration_s + WINDOW_SLACK_S),
    }
    if "end" in stock.get("validity", {}):
        stock["validity"] = {"days_after_claim": 7}
    stock.pop("eligibility", None)
    if quota is not None:
        stock["quota"] = quota
        face = int(stock.get("face_fen", stock.get("cap_fen", stock.get("max_fen", 0))) or 0)
        stock["budget_fen"] = max(int(stock["budget_fen"]), quota * face)
    return stock


def create(host: str, token: str, stock: dict[str, Any]) -> None:
    """``POST /v1/stocks`` with the admin token; :class:`ServerError` names what went wrong."""
    try:
        status, reply = request_json("POST", f"{host}/v1/stocks", stock, token=token)
    except OSError as error:
        raise ServerError(f"POST {host}/v1/stocks failed: {error}") from error
    if status == 401 or status == 403:
        raise ServerError(
            f"POST {host}/v1/stocks answered {status}: the admin token is wrong "
            "(--admin-token / COUPONLAB_ADMIN_TOKEN must be the server's)"
        )
    if status not in (200, 201):
        raise ServerError(f"POST {host}/v1/stocks answered {status}: {reply}")


def window_start_s(host: str, stock_id: str) -> float:
    """The window start of an existing stock, read from the server."""
    from engine.spec_io import parse_time

    try:
        status, reply = request_json("GET", f"{host}/v1/stocks/{stock_id}", timeout_s=10)
    except OSError as error:
        raise ServerError(f"GET {host}/v1/stocks/{stock_id} failed: {error}") from error
    if status != 200:
        raise ServerError(f"GET {host}/v1/stocks/{stock_id} answered {status}: {reply}")
    return parse_time(reply["stock"]["window"]["start"], "stock.window.start")


def write_run(directory: Path, **facts: Any) -> None:
    """Record which stock the run used and when its window opened (``run.json``)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / RUN_FILE).write_text(json.dumps(facts, indent=2, ensure_ascii=False) + "\n")


def read_run(directory: Path) -> dict[str, Any] | None:
    """``run.json`` of a run, or ``None`` when the test never started."""
    path = directory / RUN_FILE
    return dict(json.loads(path.read_text())) if path.exists() else None
