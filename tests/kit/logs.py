"""What the function logs during a test, parsed."""

from __future__ import annotations

import io
import json
from typing import Any


class LogCapture:
    """Every line the function's logger writes during a test, parsed from its JSON."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def text(self) -> str:
        return self.stream.getvalue()

    def named(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("message") == message]

    def outcomes(self) -> list[str]:
        return [line["outcome"] for line in self.named("registration handled")]

    def warnings(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("level") == "WARNING"]
