"""Which declines a retry can cure (billing.declines): the words of final declines, in Korean and English."""

import pytest

from billing.declines import retryable


@pytest.mark.parametrize(
    "fail_reason",
    ["잔액부족 또는 한도초과", "한도초과", "[F999]일시적인 오류", None, ""],
)
def test_funds_limits_and_unknown_reasons_are_retried(fail_reason: str | None) -> None:
    assert retryable(fail_reason)


@pytest.mark.parametrize(
    "fail_reason",
    [
        "거래정지카드",
        "분실신고카드",
        "도난카드",
        "해지된 카드",
        "유효하지않은 카드번호",
        "유효기간오류",
        "Card reported LOST",
    ],
)
def test_lost_stolen_closed_suspended_or_invalid_cards_are_not(fail_reason: str) -> None:
    assert not retryable(fail_reason)
