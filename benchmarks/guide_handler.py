"""The warm-path baseline: a billing-key handler written the way PortOne's V1 guide does it.

For every request: read the API keys from Secrets Manager, POST /users/getToken with a plain `requests.post`
(a new connection, no session, no timeout), then POST /subscribe/customers/{customer_uid} the same way. No
idempotency, ownership or card-testing limits, no validation beyond JSON parsing. The boto3 client is made
once per container, which is kinder to the baseline than creating it per request. Only for comparison: it
must never be deployed.
"""

import json
import os
from typing import Any

import boto3
import requests

_secrets = boto3.client("secretsmanager")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = json.loads(event["body"])
    base_url = os.environ["PORTONE_BASE_URL"]
    keys = json.loads(_secrets.get_secret_value(SecretId=os.environ["PORTONE_SECRET_ID"])["SecretString"])
    token = requests.post(  # noqa: S113 (as the guide: no timeout)
        f"{base_url}/users/getToken",
        json={"imp_key": keys["imp_key"], "imp_secret": keys["imp_secret"]},
    ).json()["response"]["access_token"]
    answer = requests.post(  # noqa: S113
        f"{base_url}/subscribe/customers/{body['customer_uid']}",
        headers={"Authorization": token},
        json={
            "card_number": body["card_number"],
            "expiry": body["expiry"],
            "birth": body["birth"],
            "pwd_2digit": body["pwd_2digit"],
            "channel_key": os.environ["PORTONE_CHANNEL_KEY"],  # required by the 2026 schema
        },
    ).json()
    if answer["code"] != 0:
        return {"statusCode": 402, "body": json.dumps({"status": "failed", "message": answer["message"]})}
    return {
        "statusCode": 200,
        "body": json.dumps({"status": "success", "customer_uid": body["customer_uid"]}),
    }
