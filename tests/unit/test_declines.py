"""Which declines a retry can cure (billing.declines): the words of final declines, in Korean and English."""

import pytest

from billing.declines import retryable


@pytest.mark.parametrize(
    "fail_reason",
    [
        "잔액부족 또는 한도초과",
        "한도초과",
        "[F999]일시적인 오류",
        "유효하지 않은 가맹점",
        "일시정지",
        None,
        "",
    ],
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


@pytest.mark.parametrize(
    ("days", "valid"), [("1,3,7", True), ("2", True), ("7,3,1", False), ("1,1", False), ("1,,3", False)]
)
def test_retry_days_are_ascending(days: str, valid: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.settings import ConfigurationError, get_settings

    required = {"PORTONE_SECRET_ID": "s", "TABLE_NAME": "table", "RECORDS_TABLE_NAME": "records"}
    for name, value in {**required, "HMAC_KEY_SECRET_ID": "h"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RETRY_DAYS", days)
    get_settings.cache_clear()
    try:
        if valid:
            assert get_settings().retry_days == days
        else:
            with pytest.raises(ConfigurationError, match="retry_days"):
                get_settings()
    finally:
        get_settings.cache_clear()
