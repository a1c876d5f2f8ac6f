"""The one place the local stack imports the function's own package: the names it shares with it.

The function itself runs by its entry point (`registrar.handler.lambda_handler`, named in
environments.py) in separate processes; the names below are all the local stack shares with it.
"""

from __future__ import annotations

from registrar.observability import METRICS_NAMESPACE, SERVICE_NAME, MetricName

__all__ = ["METRICS_NAMESPACE", "SERVICE_NAME", "MetricName"]
