"""AWS clients for the operator commands: the default credential chain, or an endpoint such as moto's."""

from __future__ import annotations

from typing import Any

import boto3


def aws_client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    # An endpoint only redirects the calls; credentials still come from the usual chain.
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region)  # type: ignore[call-overload]
