"""A FIFO group's order across the whole batch, beyond the fan-out: unparsed records and settling.

The fan-out keeps a group's parsed records in order and stops the group at its first record that
does not settle. Two things happen outside it. A record whose body did not parse never enters
the fan-out, so one behind a stopped record would still get its DLQ copy and be deleted ahead of
it. And a record's DLQ copy can fail to send after later records of its group already ran. AWS
asks a FIFO consumer to report every record after a group's first failure, as Powertools'
SqsFifoPartialProcessor does, so that nothing of a group is deleted ahead of an earlier message.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from registrar.domain.outcomes import Outcome, OutcomeKind

# (message id, FIFO MessageGroupId or None for a standard queue), in the batch's order.
Order = Sequence[tuple[str, str | None]]


def skipped_behind(group: str | None) -> Outcome:
    """The outcome of a record held because an earlier one of its FIFO group did not settle."""
    return Outcome(
        OutcomeKind.DEFERRED,
        f"not attempted: an earlier message of FIFO group {group} did not succeed",
        "FifoGroupStopped",
    )


def hold_behind_stopped_groups(order: Order, outcomes: Mapping[str, Outcome]) -> dict[str, Outcome]:
    """The outcomes with every record behind its group's first unsettled one skipped, not settled."""
    held = dict(outcomes)
    stopped: set[str] = set()
    for message_id, group in order:
        if group is None:
            continue
        if group in stopped:
            if held[message_id].settled:
                held[message_id] = skipped_behind(group)
        elif not held[message_id].settled:
            stopped.add(group)
    return held


def failures_in_group_order(order: Order, failed: Collection[str]) -> list[str]:
    """The records to report: those that failed, and every later record of a group with a failure."""
    reported: list[str] = []
    failed_groups: set[str] = set()
    for message_id, group in order:
        if message_id in failed or (group is not None and group in failed_groups):
            reported.append(message_id)
            if group is not None:
                failed_groups.add(group)
    return reported
