"""Idempotency-Key handling for state-changing routes (design.md D7), on Powertools' idempotency utility.

- The record's key is the caller, the route and the client's Idempotency-Key: one caller's key can never
  replay another caller's result.
- The body is compared through a keyed HMAC of it, so the store holds no card data (and no plain hash of it).
- What is stored is the response the client got: status, masked body and headers. Definitive answers are
  stored (success, pending, card rejected); failures a retry may cure are not (Powertools deletes the record
  when the operation raises).
- A repeat gets the stored response with `Idempotency-Replayed: true`; a repeat while the first still runs
  gets 409; a signed-in caller's key with another body gets 422. Records expire after 24 hours.
- Anonymous callers are nobody in particular: all share one scope. Their records are keyed on the body
  too, so a client reusing another's key gets neither that client's answer nor a 422 telling it the key
  is in use (README, "Design notes": D7's 422 is for signed-in callers only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.errors import ConfigurationUnavailable, IdempotencyKeyReused, RequestInProgress
from billing.observability import logger

RECORD_TTL_SECONDS = 24 * 60 * 60
REPLAYED_HEADER = "Idempotency-Replayed"

StoredResponse = dict[str, Any]  # {"status": int, "body": {...}, "headers": {...}}


@dataclass(frozen=True)
class IdempotentRequest:
    """A state-changing request as this store knows it: who, which route, which key, which body."""

    scope: str  # the caller and the route, e.g. "anonymous|POST /subscriptions/schedule"
    key: str  # the client's Idempotency-Key
    body_hmac: str  # a keyed HMAC of the body, never the body
    anonymous: bool  # no verified caller: the scope is shared by every anonymous client

    @property
    def record_key(self) -> str:
        """Where the answer is kept: the caller's key, or for anonymous callers, the key and the body."""
        record = f"{self.scope}|{self.key}"
        return f"{record}|{self.body_hmac}" if self.anonymous else record

    @property
    def identity(self) -> str:
        """This very request: a retry of it has the same identity; any other request, even with the same
        Idempotency-Key, has another. An anonymous caller is known by nothing else (design.md D8)."""
        return f"{self.scope}|{self.key}|{self.body_hmac}"


class _KeepAnswerPersistence(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB store, except that failing to save a result never hides that result.

    Once PortOne has answered, the client must get that answer even if DynamoDB then fails; the record stays
    "in progress" until the invocation's time is up, after which a retry runs again.
    """

    def save_success(self, data: dict[str, Any], result: dict[str, Any]) -> None:
        try:
            super().save_success(data=data, result=result)
        except Exception as exc:  # any store failure: the answer still goes out
            logger.error(
                "idempotency result not saved",
                extra={"outcome": "IDEMPOTENCY_SAVE_FAILED", "error_fields": [type(exc).__name__]},
            )


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "headers": {**response["headers"], REPLAYED_HEADER: "true"}}  # a StoredResponse


class IdempotencyStore:
    def __init__(self, table_name: str, *, client: Any) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            expires_after_seconds=RECORD_TTL_SECONDS,
            response_hook=_mark_replayed,
        )
        persistence = _KeepAnswerPersistence(
            table_name=table_name, key_attr="pk", expiry_attr="expires_at", boto3_client=client
        )
        # Built once per container; each request registers its own Lambda context on the shared config.
        self._once = idempotent_function(
            data_keyword_argument="request",
            persistence_store=persistence,
            config=self._config,
            key_prefix="idempotency",
        )(_call)

    def run(
        self,
        request: IdempotentRequest,
        *,
        context: LambdaContext,
        operation: Callable[[], StoredResponse],
    ) -> StoredResponse:
        """Run `operation` once per (scope, key); later calls get its stored response."""
        # Powertools bounds the "in progress" state by the invocation's remaining time.
        self._config.register_lambda_context(context)
        try:
            response: StoredResponse = self._once(
                request={"key": request.record_key, "body": request.body_hmac},
                operation=operation,
            )
        except IdempotencyAlreadyInProgressError:
            raise RequestInProgress() from None
        except IdempotencyValidationError:
            raise IdempotencyKeyReused() from None
        except IdempotencyPersistenceLayerError as exc:
            raise ConfigurationUnavailable(f"idempotency store unavailable ({exc.message})") from None
        return response


def _call(request: dict[str, str], operation: Callable[[], StoredResponse]) -> StoredResponse:
    return operation()
