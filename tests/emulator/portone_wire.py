"""Speaking PortOne's wire format to the emulator with plain ``requests``, so tests see raw HTTP."""

from __future__ import annotations

from typing import Any

import requests

from local.portone_emulator import DEFAULT_CHANNEL_KEY
from local.portone_emulator.cards import TEST_CARD_OK

IMP_KEY = "imp_test_key"
IMP_SECRET = "imp_test_secret"
TIMEOUT = 5.0


class PortOneWire:
    """A PortOne caller bound to one emulator and one ``requests.Session``."""

    def __init__(self, base_url: str, session: requests.Session) -> None:
        self.base_url = base_url
        self.session = session

    def get_token(self, **body: Any) -> requests.Response:
        body = body or {"imp_key": IMP_KEY, "imp_secret": IMP_SECRET}
        return self.session.post(f"{self.base_url}/users/getToken", json=body, timeout=TIMEOUT)

    def token(self) -> str:
        response = self.get_token()
        assert response.status_code == 200
        token: str = response.json()["response"]["access_token"]
        return token

    def call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        """A PortOne call with ``Authorization: Bearer <token>`` (a fresh token unless one is given)."""
        headers = {"Authorization": f"Bearer {token or self.token()}", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, f"{self.base_url}{path}", headers=headers, **kwargs)

    def issue(
        self, customer_uid: str = "cu_1", card_number: str = TEST_CARD_OK, **fields: Any
    ) -> requests.Response:
        body = {
            "card_number": card_number,
            "expiry": "2030-12",
            "birth": "900101",
            "pwd_2digit": "12",
            "channel_key": DEFAULT_CHANNEL_KEY,
        }
        return self.call("POST", f"/subscribe/customers/{customer_uid}", json={**body, **fields})

    def schedule(
        self, customer_uid: str = "cu_1", *schedules: dict[str, Any], **fields: Any
    ) -> requests.Response:
        """``POST /subscribe/payments/schedule`` as JSON; ``fields``: card fields, customer_id, ..."""
        body = {"customer_uid": customer_uid, "schedules": list(schedules), **fields}
        return self.call("POST", "/subscribe/payments/schedule", json=body)

    def again(
        self,
        customer_uid: str = "cu_1",
        merchant_uid: str = "order_1",
        *,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> requests.Response:
        """``POST /subscribe/payments/again`` as JSON, 8900 KRW unless ``fields`` say otherwise."""
        body = {
            "customer_uid": customer_uid,
            "merchant_uid": merchant_uid,
            "amount": 8900,
            "name": "월간 이용권",
        }
        return self.call("POST", "/subscribe/payments/again", json={**body, **fields}, headers=headers or {})

    def payment(self, imp_uid: str) -> requests.Response:
        """``GET /payments/{imp_uid}`` as a current client asks: sandbox payments included (README §5.4)."""
        return self.call("GET", f"/payments/{imp_uid}", params={"include_sandbox": "true"})


def order(merchant_uid: str, schedule_at: int, amount: float = 8900, **fields: Any) -> dict[str, Any]:
    """One item of ``schedules[]``."""
    return {
        "merchant_uid": merchant_uid,
        "schedule_at": schedule_at,
        "amount": amount,
        "name": "월간 이용권",
        **fields,
    }


def ok(response: requests.Response, status: int = 200) -> Any:
    """The ``response`` of a success envelope, after checking status, code 0 and ``message: null``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body["message"]) == (0, None)
    return body["response"]


def rejected(response: requests.Response, code: int, message: str, status: int = 200) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"code": code, "message": message, "response": None}
