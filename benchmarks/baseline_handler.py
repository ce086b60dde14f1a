"""The cold-start baseline: the smallest useful Powertools HTTP API handler, on the same layer.

One route, no validation, no AWS or PortOne calls. What a Lambda function on this layer costs at minimum;
the billing handler's cold start is compared with it.
"""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.post("/subscriptions/issue-billing")
def issue_billing_key() -> dict[str, str]:
    return {"status": "success"}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
