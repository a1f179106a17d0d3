"""Units of simulated time, in seconds: the one home of the constants every module shares.

Simulated time is a float number of seconds since the campaign start (``env.now``); these are
its fixed spans. Calendar spans (a local day across daylight saving, a month) are not fixed and
are computed with the campaign's timezone instead (:mod:`engine.calendar`).
"""

from __future__ import annotations

HOUR_S = 3600.0
DAY_S = 24 * HOUR_S
WEEK_S = 7 * DAY_S

__all__ = ["DAY_S", "HOUR_S", "WEEK_S"]
