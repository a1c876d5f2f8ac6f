"""The naive baseline: a Powertools BatchProcessor creating one user per record with plain python-keycloak.

This is the function most people write first: module-level Logger, Metrics, Tracer and
KeycloakAdmin, records handled one after the other, a failed create raising so the record
is reported in batchItemFailures. It reads the same environment variables as the function.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

logger = Logger(service="naive-registrar")
metrics = Metrics(namespace="NaiveRegistrar", service="naive-registrar")
tracer = Tracer(service="naive-registrar")
processor = BatchProcessor(event_type=EventType.SQS)
keycloak_admin = KeycloakAdmin(
    connection=KeycloakOpenIDConnection(
        server_url=os.environ["KEYCLOAK_URL"],
        realm_name=os.environ["KEYCLOAK_REALM"],
        client_id=os.environ["KEYCLOAK_CLIENT_ID"],
        client_secret_key=os.environ["KEYCLOAK_CLIENT_SECRET"],
        grant_type="client_credentials",
    )
)


def record_handler(record: SQSRecord) -> str:
    registration = json.loads(record.body)
    user_id = keycloak_admin.create_user(
        {
            "username": registration.get("username", registration["email"]),
            "email": registration["email"],
            "enabled": True,
            "emailVerified": False,
            "firstName": registration.get("firstName"),
            "lastName": registration.get("lastName"),
        }
    )
    logger.info("user created", extra={"message_id": record.message_id, "user_id": user_id})
    metrics.add_metric(name="RegistrationsCreated", unit=MetricUnit.Count, value=1)
    return str(user_id)


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
