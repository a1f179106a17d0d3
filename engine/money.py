"""Money arithmetic in integer fen: allocation (分摊) and pro-rata clawback.

No floats touch money here. Every function is pure and total over its documented domain.
"""

from __future__ import annotations

from collections.abc import Sequence


def allocate(total_fen: int, weights_fen: Sequence[int]) -> list[int]:
    """Spread ``total_fen`` over lines in proportion to ``weights_fen`` (largest remainder).

    Contract: the result sums to ``total_fen`` exactly; each share is ``floor`` or ``ceil`` of the
    exact proportional share; ties in the remainder go to the earlier line. Requires
    ``0 <= total_fen <= sum(weights_fen)`` and every weight ``>= 0`` with a positive sum, so no
    share is negative and none exceeds its line.

    >>> allocate(1000, [1000, 1000, 1000])
    [334, 333, 333]
    """
    weight_sum = sum(weights_fen)
    if weight_sum <= 0 or not 0 <= total_fen <= weight_sum or min(weights_fen) < 0:
        raise ValueError(
            f"allocate({total_fen}, {list(weights_fen)}): needs weights >= 0 with a positive sum"
            " and 0 <= total <= their sum"
        )
    shares = []
    remainders = []
    for weight in weights_fen:
        share, remainder = divmod(total_fen * weight, weight_sum)
        shares.append(share)
        remainders.append(remainder)
    leftover = total_fen - sum(shares)
    if leftover:
        # The largest remainders get one fen each; ties go to the earlier line (stable sort).
        order = sorted(range(len(shares)), key=remainders.__getitem__, reverse=True)
        for index in order[:leftover]:
            shares[index] += 1
    return shares


def div_round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for non-negative integers."""
    assert numerator >= 0 and denominator > 0
    return (2 * numerator + denominator) // (2 * denominator)


def clawback_fen(refunded_total_fen: int, discount_fen: int, paid_fen: int) -> int:
    """Discount clawed back after ``refunded_total_fen`` of ``paid_fen`` has been refunded.

    WeChat Pay's rule: ``refund × discount / paid``, rounded half up. It is computed on the
    *cumulative* refund so that several partial refunds never drift from one refund of the same
    total, and a full refund claws back the whole discount.
    """
    assert 0 <= refunded_total_fen <= paid_fen
    if paid_fen == 0 or refunded_total_fen == paid_fen:
        return discount_fen if refunded_total_fen == paid_fen else 0
    return div_round_half_up(refunded_total_fen * discount_fen, paid_fen)
