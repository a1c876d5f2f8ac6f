"""Bounded fan-out of one batch's registrations, with a deadline guard, in-batch dedupe and FIFO order.

Records are put in *lanes*, each run one record after the other by one worker:
- records that name the same username or email share a lane, so two copies never race each
  other into Keycloak, and exact copies of a registration share a single Keycloak call;
- records of the same FIFO message group share a lane and keep their order; after the first
  record of a group that does not settle (a user or a DLQ copy), the rest of that group is not
  attempted and is reported, as AWS asks of a FIFO consumer.
Lanes stream through a pool of `max_workers` threads, however large the batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from registrar.domain.deadline import Deadline
from registrar.domain.fifo_order import skipped_behind
from registrar.domain.outcomes import Outcome, OutcomeKind
from registrar.domain.registration import Registration


@dataclass(frozen=True)
class WorkItem:
    message_id: str
    registration: Registration
    order_group: str | None = None
    """The FIFO MessageGroupId, when the record came from a FIFO queue."""


RegisterFn = Callable[[Registration, Sequence[str]], Outcome]
"""Registers one user for the given message ids (every copy of the same registration; the first is its key)."""
FinishFn = Callable[[str, Outcome], Outcome]
"""The final outcome of one message, given the outcome of its registration (e.g. out of retries)."""


@dataclass(frozen=True)
class FanOutResult:
    outcomes: dict[str, Outcome]
    duplicates: int
    """Records that were exact copies of an earlier record of the batch (one Keycloak call served them)."""


@dataclass
class _Copies:
    registration: Registration
    items: list[WorkItem] = field(default_factory=list)


@dataclass
class _Lane:
    units: dict[str, _Copies] = field(default_factory=dict)
    """Exact copies by dedupe key, in order of first appearance."""

    def message_ids(self) -> list[str]:
        return [item.message_id for copies in self.units.values() for item in copies.items]


def lanes_of(items: Sequence[WorkItem]) -> list[_Lane]:
    """Union of records by username, email and FIFO group, in arrival order."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def keys(item: WorkItem) -> list[str]:
        found = [f"u:{item.registration.login}", f"e:{item.registration.email}"]
        if item.order_group is not None:
            found.append(f"g:{item.order_group}")
        return found

    for item in items:
        first, *others = keys(item)
        for other in others:
            parent[root(other)] = root(first)
    lanes: dict[str, _Lane] = {}
    for item in items:
        lane = lanes.setdefault(root(keys(item)[0]), _Lane())
        lane.units.setdefault(item.registration.dedupe_key(), _Copies(item.registration)).items.append(item)
    return list(lanes.values())


class _Outcomes:
    """Outcomes written by the workers; closed at the fan-in, so an abandoned worker can no longer change them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: dict[str, Outcome] = {}
        self._closed = False

    def put(self, message_id: str, outcome: Outcome) -> None:
        with self._lock:
            if not self._closed:
                self._outcomes[message_id] = outcome

    def close(self) -> dict[str, Outcome]:
        with self._lock:
            self._closed = True
            return dict(self._outcomes)


_GUARD = Outcome(OutcomeKind.DEFERRED, "not started: the invocation's deadline is near", "DeadlineGuard")


def _run_lane(lane: _Lane, register: RegisterFn, finish: FinishFn, deadline: Deadline, sink: _Outcomes) -> None:
    stopped: set[str] = set()
    for copies in lane.units.values():
        live = [item for item in copies.items if item.order_group not in stopped]
        for item in copies.items:
            if item.order_group in stopped:
                # Held, not finished: even out of time it must not be dead-lettered ahead of the
                # record that stopped its group.
                sink.put(item.message_id, skipped_behind(item.order_group))
        if not live:
            continue
        if deadline.may_start_record():
            outcome = register(copies.registration, [item.message_id for item in live])
        else:
            outcome = _GUARD
        for item in live:
            final = finish(item.message_id, outcome)
            sink.put(item.message_id, final)
            if item.order_group is not None and not final.settled:
                stopped.add(item.order_group)


def fan_out(
    items: Sequence[WorkItem],
    register: RegisterFn,
    finish: FinishFn,
    deadline: Deadline,
    max_workers: int,
) -> FanOutResult:
    """Register every item; returns an outcome for each message id, whatever happens."""
    lanes = lanes_of(items)
    duplicates = sum(len(copies.items) - 1 for lane in lanes for copies in lane.units.values())
    if not lanes:
        return FanOutResult({}, 0)
    sink = _Outcomes()
    executor = ThreadPoolExecutor(max_workers=min(max_workers, len(lanes)), thread_name_prefix="register")
    futures: dict[Future[None], _Lane] = {}
    try:
        for lane in lanes:
            futures[executor.submit(_run_lane, lane, register, finish, deadline, sink)] = lane
        wait(futures, timeout=deadline.wait_budget())
    finally:
        # Do not wait for stragglers: the answer must go out before the function times out.
        executor.shutdown(wait=False, cancel_futures=True)
    outcomes = sink.close()
    for future, lane in futures.items():
        for message_id in lane.message_ids():
            if message_id not in outcomes:
                outcomes[message_id] = finish(message_id, _unfinished(future))
    return FanOutResult(outcomes, duplicates)


def _unfinished(future: Future[None]) -> Outcome:
    """The outcome of a record whose worker did not hand back its result."""
    if future.cancelled():
        return Outcome(OutcomeKind.DEFERRED, "not started before the deadline", "DeadlineGuard")
    if future.done():
        error = future.exception()
        return Outcome(OutcomeKind.RETRYABLE, f"unexpected error: {type(error).__name__}", type(error).__name__)
    return Outcome(OutcomeKind.RETRYABLE, "still running at the deadline (outcome unknown)", "DeadlineGuard")
