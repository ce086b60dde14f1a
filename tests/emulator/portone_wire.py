"""Speaking PortOne's wire format to the emulator with plain ``requests``, so tests see raw HTTP."""

from __future__ import annotations

from typing import Any

import requests

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
        body = {"card_number": card_number, "expiry": "2030-12", "birth": "900101", "pwd_2digit": "12"}
        return self.call("POST", f"/subscribe/customers/{customer_uid}", json={**body, **fields})
