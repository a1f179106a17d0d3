"""Allocation (分摊) and clawback, as properties over arbitrary orders."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.money import allocate, clawback_fen, div_round_half_up

weights = st.lists(st.integers(0, 10**7), min_size=1, max_size=12).filter(lambda w: sum(w) > 0)


@settings(deadline=None, max_examples=200)
@given(weights=weights, data=st.data())
def test_allocation_properties(weights: list[int], data: st.DataObject) -> None:
    total = data.draw(st.integers(0, sum(weights)), label="total")
    shares = allocate(total, weights)
    assert sum(shares) == total
    assert len(shares) == len(weights)
    for share, weight in zip(shares, weights, strict=True):
        exact = Fraction(total * weight, sum(weights))
        assert 0 <= share <= weight
        assert share in (
            exact.numerator // exact.denominator,
            -(-exact.numerator // exact.denominator),
        )


@settings(deadline=None, max_examples=200)
@given(weights=weights, data=st.data())
def test_allocation_largest_remainder_ties_to_earlier_lines(
    weights: list[int], data: st.DataObject
) -> None:
    total = data.draw(st.integers(0, sum(weights)), label="total")
    shares = allocate(total, weights)
    remainders = [(total * w) % sum(weights) for w in weights]
    bumped = [s > (total * w) // sum(weights) for s, w in zip(shares, weights, strict=True)]
    for i, got in enumerate(bumped):
        for j, other in enumerate(bumped):
            if got and not other:  # a bumped line's remainder beats (or ties earlier than) j's
                assert remainders[i] > remainders[j] or (remainders[i] == remainders[j] and i < j)


def test_allocation_examples() -> None:
    assert allocate(1000, [1000, 1000, 1000]) == [334, 333, 333]
    assert allocate(5000, [9999, 6667, 3333, 2001, 1333]) == [2143, 1429, 714, 429, 285]
    assert allocate(0, [5, 5]) == [0, 0]
    assert allocate(2, [0, 1, 1, 0]) == [0, 1, 1, 0]


@pytest.mark.parametrize(("total", "weights"), [(11, [5, 5]), (-1, [5]), (1, [0, 0]), (1, [3, -1])])
def test_allocation_refuses_impossible_input(total: int, weights: list[int]) -> None:
    with pytest.raises(ValueError, match="allocate"):
        allocate(total, weights)


@settings(deadline=None, max_examples=200)
@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_round_half_up(numerator: int, denominator: int) -> None:
    exact = Fraction(numerator, denominator)
    assert div_round_half_up(numerator, denominator) == int(exact + Fraction(1, 2))


@settings(deadline=None, max_examples=200)
@given(paid=st.integers(1, 10**7), data=st.data())
def test_clawback_is_monotonic_and_total(paid: int, data: st.DataObject) -> None:
    discount = data.draw(st.integers(1, 10**6), label="discount")
    refunds = sorted(data.draw(st.lists(st.integers(0, paid), max_size=6), label="refunds"))
    clawed = [clawback_fen(r, discount, paid) for r in refunds]
    assert clawed == sorted(clawed)
    assert all(0 <= c <= discount for c in clawed)
    assert clawback_fen(paid, discount, paid) == discount
