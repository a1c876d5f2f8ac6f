"""Lambda entry point: the environment's runtime, the invocation's deadline, and the batch processor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from registrar.domain.deadline import Deadline
from registrar.observability import logger, metrics
from registrar.processor import BatchResponse, process_event
from registrar.runtime import current_runtime


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Mapping[str, Any], context: LambdaContext) -> BatchResponse:
    runtime = current_runtime()
    deadline = Deadline(remaining_ms=context.get_remaining_time_in_millis, budget=runtime.settings.time_budget)
    return process_event(event, deadline, runtime)
