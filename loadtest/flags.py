"""``argparse`` types for the load-test commands: a bad value is named with what was expected
(``argument --users: expected an integer >= 1, got 'x'``), never a traceback. Only finite
numbers pass: ``inf`` as a duration or a rate would make a run that never ends."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    return int(number(text, int, 1, "an integer >= 1"))


def positive_float(text: str) -> float:
    return number(text, float, 0, "a finite number > 0", strict=True)


def non_negative(text: str) -> float:
    return number(text, float, 0, "a finite number >= 0")


def share(text: str) -> float:
    value = number(text, float, 0, "a share between 0 and 1")
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text}")
    return value


def number(text: str, kind: type, low: float, expected: str, strict: bool = False) -> float:
    """``text`` as a finite ``kind`` >= ``low`` (> ``low`` when ``strict``); NaN and ±inf are
    refused like any other bad value."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
    return float(value)
