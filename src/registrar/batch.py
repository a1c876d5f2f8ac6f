"""Bounded fan-out of one batch's registrations, with a deadline guard and in-batch dedupe.

Records that name the same username or email are put in one group and run one after the
other in one worker, so two copies never race each other into Keycloak; exact copies of a
registration share a single Keycloak call and its outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from registrar.deadline import Deadline
from registrar.messages import Registration
from registrar.registration import Outcome, OutcomeKind

RegisterFn = Callable[[Registration, Sequence[str], Deadline], Outcome]
"""Registers one user for the given message ids (all copies of the same registration)."""


@dataclass
class _Copies:
    registration: Registration
    message_ids: list[str] = field(default_factory=list)


@dataclass
class _Group:
    """Registrations that share a username or an email, in arrival order."""

    copies: dict[str, _Copies] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)

    def message_ids(self) -> list[str]:
        return [message_id for copies in self.copies.values() for message_id in copies.message_ids]


def group_registrations(items: Sequence[tuple[str, Registration]]) -> list[_Group]:
    groups: list[_Group] = []
    owner: dict[str, _Group] = {}
    for message_id, registration in items:
        keys = {f"u:{registration.login}", f"e:{registration.email}"}
        matching = {id(owner[key]): owner[key] for key in keys if key in owner}
        if not matching:
            group = _Group()
            groups.append(group)
        else:
            # A registration can join two groups (one by username, one by email): merge them.
            group, *others = matching.values()
            for other in others:
                for dedupe_key, copies in other.copies.items():
                    group.copies.setdefault(dedupe_key, _Copies(copies.registration)).message_ids.extend(
                        copies.message_ids
                    )
                group.keys |= other.keys
                groups.remove(other)
        group.keys |= keys
        for key in group.keys:
            owner[key] = group
        group.copies.setdefault(registration.dedupe_key(), _Copies(registration)).message_ids.append(message_id)
    return groups


def _run_group(group: _Group, register: RegisterFn, deadline: Deadline) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for copies in group.copies.values():
        if deadline.may_start_record():
            outcome = register(copies.registration, copies.message_ids, deadline)
        else:
            outcome = Outcome(OutcomeKind.DEFERRED, "not started: the invocation's deadline is near", "DeadlineGuard")
        for message_id in copies.message_ids:
            outcomes[message_id] = outcome
    return outcomes


def fan_out(
    items: Sequence[tuple[str, Registration]],
    register: RegisterFn,
    deadline: Deadline,
    max_workers: int,
) -> dict[str, Outcome]:
    """Register every item; returns an outcome for each message id, whatever happens."""
    groups = group_registrations(items)
    if not groups:
        return {}
    outcomes: dict[str, Outcome] = {}
    executor = ThreadPoolExecutor(max_workers=min(max_workers, len(groups)), thread_name_prefix="register")
    futures: dict[Future[dict[str, Outcome]], _Group] = {}
    try:
        for group in groups:
            futures[executor.submit(_run_group, group, register, deadline)] = group
        wait(futures, timeout=deadline.wait_budget())
    finally:
        # Do not wait for stragglers: the response must go out before the function times out.
        executor.shutdown(wait=False, cancel_futures=True)
    for future, group in futures.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            outcomes.update(future.result())
            continue
        for message_id in group.message_ids():
            outcomes.setdefault(message_id, _unfinished(future))
    return outcomes


def _unfinished(future: Future[dict[str, Outcome]]) -> Outcome:
    """The outcome of a group whose worker did not hand back its results."""
    if future.cancelled():
        return Outcome(OutcomeKind.DEFERRED, "not started before the deadline", "DeadlineGuard")
    if future.done():
        error = future.exception()
        return Outcome(OutcomeKind.RETRYABLE, f"unexpected error: {type(error).__name__}", type(error).__name__)
    return Outcome(OutcomeKind.RETRYABLE, "still running at the deadline (outcome unknown)", "DeadlineGuard")
