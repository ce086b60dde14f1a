"""The one table that reads PortOne's decline text: the PG code, and whether it says the details typed do not
match the card (docs/portone-v1.md §3.1, with the messages observed there)."""

from __future__ import annotations

import pytest

from billing.portone.errors import PortOneCardRejected

FAILED = "카드정보 인증 및 빌키 발급에 실패하였습니다. "


@pytest.mark.parametrize(
    ("message", "code", "mismatch"),
    [
        (FAILED + "[F112]유효하지않은 카드번호를 입력하셨습니다. (card_bin 없음)", "F112", True),
        (FAILED + "[F113]유효기간오류 - 테스트모드에서는 KB카드 사용이 불가능합니다.", "F113", True),
        (FAILED + "[400]Error From NICEPAY. (message: 비밀번호틀림, code:F113)", "F113", True),
        (FAILED + "[400]Error From NICEPAY. (message: 비밀번호 회수초과, code:F113)", "F113", True),
        (FAILED + "[400].issueCard.password2Digits:Invalid 2 digits of password!", "400", False),
        (FAILED + "[F999]알 수 없는 오류", "F999", False),
        ("카드사 승인 거절", None, False),
    ],
)
def test_the_pg_code_and_whether_the_details_do_not_match(
    message: str, code: str | None, mismatch: bool
) -> None:
    declined = PortOneCardRejected(message, http_status=200, code=-1)
    assert (declined.pg_code, declined.details_mismatch) == (code, mismatch)
