"""SQS clients: for the local server (an endpoint URL) or for real SQS (the default credential chain)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
SQS_BATCH_LIMIT = 10  # entries per SendMessageBatch / DeleteMessageBatch, an SQS API limit
# The local server accepts any credentials; these only keep boto3 from looking for real ones.
FAKE_ACCESS_KEY_ID = "local"
FAKE_SECRET_ACCESS_KEY = "local"  # noqa: S105
# Senders and pollers share a client across threads: room for each of them in the pool.
_LOCAL_CLIENT_CONFIG = Config(max_pool_connections=32, retries={"max_attempts": 3, "mode": "standard"})


def sqs_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """An SQS client for a local server (endpoint given) or for real SQS (the default credential chain)."""
    if endpoint_url is None:
        return boto3.client("sqs", region_name=region)
    return boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=region or REGION,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
        config=_LOCAL_CLIENT_CONFIG,
    )
