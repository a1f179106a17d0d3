"""Calendar arithmetic in a campaign's timezone: local days, weeks, months and weekly slots.

Engine time is seconds since the Unix epoch on a clock the caller supplies. Limits per day, week
or month and weekly claim windows ("Fridays 10:00–22:00") are evaluated in the campaign's local
time. :class:`LocalCalendar` caches the local day it last saw, because consecutive calls almost
always fall on the same day and a zoneinfo conversion costs more than the rest of a claim.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import InvalidDefinition

SECONDS_PER_DAY = 86_400


class LocalDay(NamedTuple):
    """One local calendar day: its bounds in engine seconds and the keys of its periods."""

    start_s: float
    end_s: float
    day_key: int
    week_key: int
    month_key: int
    weekday: int
    campaign_key: int = 0  # one period for the whole campaign: the same key every day


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone ``name``, or :class:`InvalidDefinition` naming ``field``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidDefinition(field, name, "an IANA timezone such as 'Asia/Shanghai'") from None


class LocalCalendar:
    """Maps engine seconds to :class:`LocalDay` in one timezone. Safe to share between threads:
    the cache is a single immutable tuple replaced atomically."""

    __slots__ = ("_cached", "tz")

    def __init__(self, timezone: str) -> None:
        self.tz = zone(timezone)
        self._cached = LocalDay(0.0, 0.0, 0, 0, 0, 0)

    def day(self, now_s: float) -> LocalDay:
        """The local day that contains ``now_s``."""
        cached = self._cached
        if cached.start_s <= now_s < cached.end_s:
            return cached
        cached = self._compute(now_s)
        self._cached = cached
        return cached

    def _compute(self, now_s: float) -> LocalDay:
        local = dt.datetime.fromtimestamp(now_s, self.tz)
        date = local.date()
        start = dt.datetime.combine(date, dt.time(), self.tz).timestamp()
        end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), self.tz).timestamp()
        ordinal = date.toordinal()
        return LocalDay(
            start_s=start,
            end_s=end,
            day_key=ordinal,
            week_key=ordinal - date.weekday(),
            month_key=date.year * 12 + date.month - 1,
            weekday=date.weekday(),
        )

    def second_of_day(self, now_s: float, day: LocalDay) -> float:
        """Local wall-clock seconds since midnight at ``now_s`` (in ``day``).

        On a 24-hour day that is the time since the day started; on a day with a daylight-saving
        change (23 or 25 hours long) it is read from the wall clock, so "10:00" stays 10:00.
        """
        if day.end_s - day.start_s == SECONDS_PER_DAY:
            return now_s - day.start_s
        local = dt.datetime.fromtimestamp(now_s, self.tz)
        wall = local.replace(tzinfo=None) - dt.datetime.combine(local.date(), dt.time())
        return wall.total_seconds()

    def wall_s(self, day: LocalDay, second_of_day: float) -> float:
        """Engine seconds of the local wall-clock time ``second_of_day`` on ``day``."""
        if day.end_s - day.start_s == SECONDS_PER_DAY:
            return day.start_s + second_of_day
        midnight = dt.datetime.combine(dt.date.fromordinal(day.day_key), dt.time(), self.tz)
        return (midnight + dt.timedelta(seconds=second_of_day)).timestamp()

    def days_later_s(self, now_s: float, days: int) -> float:
        """Engine seconds of the same local wall-clock time ``days`` local days after ``now_s``.

        Across a daylight-saving change that is not ``days × 86,400`` s: claimed at 10:00 on
        the Saturday before Europe/Berlin springs forward, 2 days later is Monday 10:00, 47 hours
        on. A wall time that does not exist on the target day (inside the spring-forward hour) is
        read with the offset before the change, one hour later on the wall clock (02:30 → 03:30);
        an ambiguous one (the autumn hour, lived twice) is its first occurrence.
        """
        local = dt.datetime.fromtimestamp(now_s, self.tz).replace(tzinfo=None)
        later = (local + dt.timedelta(days=days)).replace(tzinfo=self.tz, fold=0)
        return later.timestamp()

    def day_shift_s(self, day: LocalDay, days: int) -> float | None:
        """``start of the local day days after day − start of day``, when both days are 24
        hours long (then every instant of ``day`` plus it is :meth:`days_later_s`); None when
        either has a daylight-saving change (then only :meth:`days_later_s` is exact)."""
        if day.end_s - day.start_s != SECONDS_PER_DAY:
            return None
        date = dt.date.fromordinal(day.day_key + days)
        start = dt.datetime.combine(date, dt.time(), self.tz).timestamp()
        end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), self.tz).timestamp()
        return start - day.start_s if end - start == SECONDS_PER_DAY else None

    def at(self, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
        """Engine seconds of a local wall-clock time (a convenience for tests and scenarios)."""
        return dt.datetime(year, month, day, hour, minute, tzinfo=self.tz).timestamp()
