"""Test-only launcher: ``couponlab serve`` whose store skips the quota check (over-issues).

Run as ``python tests/loadtest/lt_broken_server.py serve --store memory --port …``: the same
arguments as ``couponlab serve``, but ``--store memory`` opens :class:`QuotaSkippingStore`, the
over-issuance bug of litemall #581 (quota 1 → 9 coupons). The load-test verdict must catch it.
Production code carries no such hook: the launcher replaces ``open_store`` in its own process.
"""

from __future__ import annotations

import copy
import sys

from engine.decide import ClaimPlan
from engine.outcomes import ClaimResult
from engine.rules import StockRules
from engine.store import MemoryStore, Store


class QuotaSkippingStore(MemoryStore):
    """A MemoryStore whose claim ignores the quota: it admits and issues against a copy of the
    stock's compiled rules whose quota is a billion (so its own over-quota assertion, which
    reads the same rules, stays silent too)."""

    def claim(
        self, rules: StockRules, plan: ClaimPlan, flagged: bool, reasons: tuple[str, ...]
    ) -> ClaimResult:
        unlimited = copy.copy(rules)
        unlimited.quota = 1_000_000_000
        return super().claim(unlimited, plan, flagged, reasons)


def _open_store(url: str, **_options: object) -> Store:
    """Stands in for ``engine.store.open_store`` (whatever keyword options it grows)."""
    assert url == "memory", "the broken launcher only serves --store memory"
    return QuotaSkippingStore()


if __name__ == "__main__":
    import engine.http.app as http_app
    from couponlab.cli import main

    http_app.open_store = _open_store  # type: ignore[attr-defined]  # uvicorn (1 worker) builds the app in this process
    sys.exit(main())
