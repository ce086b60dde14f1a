"""Card knowledge of the emulator: magic test cards, the Luhn check, a small BIN table and masking.

Every magic number is 16 digits and Luhn-valid, so a strict client-side validator lets it through and the
outcome below comes from the emulator, as it would from the PG. Any other Luhn-valid 15- or 16-digit number
is issued as a credit card and pays; a Luhn-invalid one gets F112, as the real PG answers.

======================= ================ ==== ========================================================
constant                number           code message, after ISSUE_FAILED (below)
======================= ================ ==== ========================================================
TEST_CARD_OK            9540490000000001 0    issued: BC카드 (361), card_type 0 (credit)
TEST_CARD_CHECK         5272890000000004 0    issued: 국민KB카드 (381), card_type 1 (check)
CARD_INVALID_NUMBER     9540490000112004 -1   [F112]유효하지않은 카드번호를 입력하셨습니다. (card_bin 없음)
CARD_WRONG_PASSWORD     9540490000113002 -1   [400]Error From NICEPAY. (message: 비밀번호틀림, code:F113)
CARD_PASSWORD_LOCKED    9540490000113101 -1   [400]Error From NICEPAY. (message: 비밀번호 회수초과, code:F113)
CARD_EXPIRY_MISMATCH    9540490000113200 -1   [F113]유효기간오류
CARD_NO_PG              9540490000100009 1    비인증결제모듈 사용정보를 찾을 수 없습니다. (no prefix)
CARD_INSUFFICIENT_FUNDS 9540490000200106 0    issued; payments fail: "잔액부족 또는 한도초과"
CARD_PAYMENT_SUSPENDED  9540490000200205 0    issued; payments fail: "거래정지카드"
======================= ================ ==== ========================================================

``ISSUE_FAILED``, "카드정보 인증 및 빌키 발급에 실패하였습니다. ", is the prefix PortOne puts before every
PG rejection (README §3.1). All of them come back with HTTP 200 and ``response: null``.

The last two issue normally, because issuing only checks that the card exists (README §3.1: a zero-balance
card can still be registered), and every payment with their key is declined: ``again`` answers code 0 with
``status: "failed"`` and this ``fail_reason`` (README §5.3), a scheduled run ends ``payment_status:
"failed"``. The reasons are [inf]: the official "again" sample names these declines ("고객 카드 한도초과,
거래정지카드, 잔액부족", README §5.3, S21/S17c) but no captured ``fail_reason`` text was found.
"""

from __future__ import annotations

from dataclasses import dataclass

# README §3.1: "카드정보 인증 및 빌키 발급에 실패하였습니다. " + "[<PG code>]<PG text>".
ISSUE_FAILED = "카드정보 인증 및 빌키 발급에 실패하였습니다. "
INVALID_NUMBER_MESSAGE = ISSUE_FAILED + "[F112]유효하지않은 카드번호를 입력하셨습니다. (card_bin 없음)"
EXPIRY_MESSAGE = ISSUE_FAILED + "[F113]유효기간오류"
# The password text is observed (README §3.1, S17b); the birth text copies its pattern [inf].
PASSWORD_FORMAT_MESSAGE = ISSUE_FAILED + "[400].issueCard.password2Digits:Invalid 2 digits of password!"
BIRTH_FORMAT_MESSAGE = ISSUE_FAILED + "[400].issueCard.birth:Invalid birth or business registration number!"
NO_PG_MESSAGE = "비인증결제모듈 사용정보를 찾을 수 없습니다."


@dataclass(frozen=True)
class Outcome:
    """What a card gives: issuing (``code`` 0 with ``card_type``, or a rejection), then paying with its key.

    ``decline`` is the ``fail_reason`` of every payment with the key; ``None`` means payments are approved.
    """

    code: int
    message: str | None = None
    card_type: int = 0
    decline: str | None = None


ISSUED_CREDIT = Outcome(code=0, card_type=0)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _with_check_digit(first_15: str) -> str:
    """Append the Luhn check digit, so every magic number passes a strict client-side validator."""
    return next(first_15 + d for d in "0123456789" if luhn_valid(first_15 + d))


# The middle digits hint at the outcome: ...0011200. is F112, ...00113x.. are the F113 family.
TEST_CARD_OK = _with_check_digit("954049000000000")  # 9540490000000001
TEST_CARD_CHECK = _with_check_digit("527289000000000")  # 5272890000000004
CARD_INVALID_NUMBER = _with_check_digit("954049000011200")  # 9540490000112004
CARD_WRONG_PASSWORD = _with_check_digit("954049000011300")  # 9540490000113002
CARD_PASSWORD_LOCKED = _with_check_digit("954049000011310")  # 9540490000113101
CARD_EXPIRY_MISMATCH = _with_check_digit("954049000011320")  # 9540490000113200
CARD_NO_PG = _with_check_digit("954049000010000")  # 9540490000100009
# ...0002001.. and ...0002002..: issued, then declined at payment time.
CARD_INSUFFICIENT_FUNDS = _with_check_digit("954049000020010")  # 9540490000200106
CARD_PAYMENT_SUSPENDED = _with_check_digit("954049000020020")  # 9540490000200205

INSUFFICIENT_FUNDS_REASON = "잔액부족 또는 한도초과"  # [inf], see the module docstring
SUSPENDED_REASON = "거래정지카드"  # [inf], see the module docstring

MAGIC_CARDS: dict[str, Outcome] = {
    TEST_CARD_OK: ISSUED_CREDIT,
    TEST_CARD_CHECK: Outcome(code=0, card_type=1),
    CARD_INVALID_NUMBER: Outcome(code=-1, message=INVALID_NUMBER_MESSAGE),
    CARD_WRONG_PASSWORD: Outcome(
        code=-1, message=ISSUE_FAILED + "[400]Error From NICEPAY. (message: 비밀번호틀림, code:F113)"
    ),
    CARD_PASSWORD_LOCKED: Outcome(
        code=-1, message=ISSUE_FAILED + "[400]Error From NICEPAY. (message: 비밀번호 회수초과, code:F113)"
    ),
    CARD_EXPIRY_MISMATCH: Outcome(code=-1, message=EXPIRY_MESSAGE),
    # PortOne itself answers this one with code 1 and HTTP 200 (README §3.1, S15).
    CARD_NO_PG: Outcome(code=1, message=NO_PG_MESSAGE),
    CARD_INSUFFICIENT_FUNDS: Outcome(code=0, decline=INSUFFICIENT_FUNDS_REASON),
    CARD_PAYMENT_SUSPENDED: Outcome(code=0, decline=SUSPENDED_REASON),
}

# Longest prefix wins. The two domestic BINs are from real NICE responses (README §3.1: 52728927****2305,
# 95404900****1569); the network prefixes map foreign cards to PortOne's foreign codes (README §3.1,
# S9 CardConstant). Anything else is reported as a BC card, the most common domestic brand.
BIN_TABLE: dict[str, tuple[str, str]] = {
    "527289": ("381", "국민KB카드"),
    "954049": ("361", "BC카드"),
    "4": ("VIS", "해외비자"),
    "5": ("MAS", "해외마스터"),
    "2": ("MAS", "해외마스터"),
    "34": ("AMX", "해외아멕스"),
    "37": ("AMX", "해외아멕스"),
    "35": ("JCB", "해외JCB"),
    "62": ("UNI", "은련"),
}
DEFAULT_ISSUER = ("361", "BC카드")


def issuer(digits: str) -> tuple[str, str]:
    """``(card_code, card_name)`` for a card number."""
    for length in range(6, 0, -1):
        found = BIN_TABLE.get(digits[:length])
        if found is not None:
            return found
    return DEFAULT_ISSUER


def mask(digits: str) -> str:
    """First 8 and last 4 digits kept, the rest starred, so the length is kept.

    16 digits give ``95404900****0001`` as PortOne does (README §3.1); 15-digit cards (AMEX) give
    ``37828224***0005``. PortOne's own 15-digit form was not observed.
    """
    return digits[:8] + "*" * (len(digits) - 12) + digits[-4:]
