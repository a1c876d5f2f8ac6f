"""Everything the function lets out: exceptions raised in any thread, and what they say."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


@contextmanager
def every_exception() -> Iterator[list[BaseException]]:
    """Every exception raised in any thread while the block runs, handled or not."""
    monitoring = sys.monitoring
    tool = next(candidate for candidate in range(5, 0, -1) if monitoring.get_tool(candidate) is None)
    raised: list[BaseException] = []

    def on_raise(_code: object, _offset: int, exception: BaseException) -> None:
        raised.append(exception)

    monitoring.use_tool_id(tool, "security-tests")
    try:
        monitoring.register_callback(tool, monitoring.events.RAISE, on_raise)
        monitoring.set_events(tool, monitoring.events.RAISE)
        yield raised
    finally:
        monitoring.set_events(tool, 0)
        monitoring.register_callback(tool, monitoring.events.RAISE, None)
        monitoring.free_tool_id(tool)


def exception_texts(exceptions: Iterable[BaseException]) -> str:
    """str and repr of each exception and of every exception chained to it."""
    texts: list[str] = []
    for exception in exceptions:
        seen: set[int] = set()
        current: BaseException | None = exception
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            texts.extend([str(current), repr(current), *(repr(arg) for arg in current.args)])
            current = current.__cause__ or current.__context__
    return "\n".join(texts)
