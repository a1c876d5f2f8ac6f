"""Section 10, recovery after a Keycloak outage: the local stack under a steady load, Keycloak stopped, started again.

A Keycloak of its own (so that it can be stopped) on the server CPUs, with its data kept across
the restart; ElasticMQ, the pollers and the function environments of section 8 in front of it.
Senders enqueue at a steady rate from the start until Keycloak is healthy again; in between,
Keycloak is stopped for `recovery_outage_seconds`. The function's backoff is scaled down
(`recovery_backoff_base_seconds`, `recovery_backoff_max_seconds`) so that the run takes minutes
instead of hours; the run records the scale it used.

Counted at the end: users lost (neither in Keycloak nor in the DLQ nor left in the queue), DLQ
copies, duplicate users, and the seconds from Keycloak healthy to the empty queue. The ideal is
the backlog at that moment (messages visible or in flight) divided by Keycloak's ceiling,
measured on this Keycloak before the load as section 8 measures it when section 1 is skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import local_stack
from bench.cli import Options
from bench.records import Recovery
from bench.trials import PoolSpec, Where, WorkerPool

if TYPE_CHECKING:
    from registrar_local.stack import ConsumerRun, LocalStack

# Longest wait for the queue to empty once Keycloak is healthy: the backlog at the ceiling would
# take seconds; this only ends a run that does not recover at all.
DRAIN_TIMEOUT_SECONDS = 600.0


@contextlib.contextmanager
def _pinned(cpus: tuple[int, ...]) -> Iterator[None]:
    """The JVM and PostgreSQL inherit the affinity of the process that starts them."""
    own = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, own)


def _steady_sender(
    sqs: Any, queue_url: str, bodies: list[str], per_second: float, stop: threading.Event, sent: list[int]
) -> None:
    """SendMessageBatch of 10 at `per_second` messages a second until `stop` (or the bodies run out)."""
    from registrar_local.sqs_client import SQS_BATCH_LIMIT
    from registrar_local.stack import send_bodies

    interval = SQS_BATCH_LIMIT / per_second
    started = time.monotonic()
    for index, offset in enumerate(range(0, len(bodies), SQS_BATCH_LIMIT)):
        # Paced against the start, so that a slow send is caught up rather than drifting.
        if stop.wait(max(0.0, started + index * interval - time.monotonic())):
            return
        sent[0] += send_bodies(sqs, queue_url, bodies[offset : offset + SQS_BATCH_LIMIT])


def _users_of_run(keycloak_url: str, run_id: str) -> Counter[str]:
    """The run's users counted by registrationId: a count above 1 is one registration made twice.

    Not by username, which Keycloak keeps unique. Users without the attribute share one key, so
    that losing it shows too.
    """
    from registrar_local.keycloak_server import master_admin

    users = master_admin(keycloak_url).get_users({"search": f"*{run_id}*"})
    return Counter(
        (user.get("attributes") or {}).get("registrationId", ["(none)"])[0]  # users without one count together
        for user in users
        if f"-{run_id}-" in user["username"]
    )


def _ceiling(keycloak_url: str, where: Where) -> list[float]:
    """Section 8's own measurement of Keycloak's ceiling, on this Keycloak, before any load."""

    def pool(processes: int) -> WorkerPool:
        spec = PoolSpec(
            kind="limit",
            keycloak_url=keycloak_url,
            run_id=where.run_id,
            processes=processes,
            in_flight=10,
            log_path=where.log_path,
            cpus=where.client_cpus,
        )
        return WorkerPool(spec)

    return local_stack.own_ceiling(pool)


@dataclass
class _Load:
    """The consumers (pollers and function environments) and one steady sender, as threads."""

    stack: LocalStack
    environment: dict[str, str]
    bodies: list[str]
    per_second: float
    log_path: Path
    consumers: ConsumerRun = field(init=False)
    sent: list[int] = field(default_factory=lambda: [0])
    stop_sending: threading.Event = field(default_factory=threading.Event)
    stop_consuming: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> _Load:
        from registrar_local.stack import ConsumerRun, run_consumers

        self.consumers = ConsumerRun()
        queue_url = self.stack.queues.source_url
        self.threads = [
            threading.Thread(
                target=run_consumers,
                args=(self.stack.sqs, queue_url, self.environment, self.stack.settings, self.stop_consuming),
                kwargs={"log_path": self.log_path, "run": self.consumers},
                name="recovery-consumers",
            ),
            threading.Thread(
                target=_steady_sender,
                args=(self.stack.sqs(), queue_url, self.bodies, self.per_second, self.stop_sending, self.sent),
                name="recovery-sender",
                daemon=True,
            ),
        ]
        for thread in self.threads:
            thread.start()
        return self

    def stop_load(self) -> None:
        self.stop_sending.set()
        self.threads[1].join()

    def stop(self) -> None:
        self.stop_sending.set()
        self.stop_consuming.set()
        for thread in self.threads:
            thread.join()


@dataclass
class _Moments:
    stopped_at: float = 0.0
    healthy_at: float = 0.0
    empty_at: float = 0.0
    backlog: int = 0
    drained: bool = False


def _outage(server: Any, options: Options, where: Where, load: _Load, log: Callable[[str], None]) -> _Moments:
    """Load, stop Keycloak, start it again, stop the load, wait for the empty queue."""
    from registrar_local.stack import queue_depth, wait_until_drained

    moments = _Moments()
    log(f"  load of {options.recovery_load_per_second:g}/s for {options.recovery_lead_seconds:.0f} s")
    time.sleep(options.recovery_lead_seconds)
    log(f"  stopping Keycloak for {options.recovery_outage_seconds:.0f} s")
    moments.stopped_at = time.monotonic()
    server.stop(keep_data=True)
    time.sleep(max(0.0, options.recovery_outage_seconds - (time.monotonic() - moments.stopped_at)))
    log("  starting Keycloak again")
    with _pinned(where.server_cpus):
        server.start()
    moments.healthy_at = time.monotonic()
    load.stop_load()
    sqs, queue_url = load.stack.sqs(), load.stack.queues.source_url
    moments.backlog = queue_depth(sqs, queue_url)
    down = moments.healthy_at - moments.stopped_at
    log(f"  Keycloak healthy after {down:.0f} s down; backlog {moments.backlog}, {load.sent[0]} sent")
    moments.drained = wait_until_drained(sqs, queue_url, threading.Event(), timeout=DRAIN_TIMEOUT_SECONDS)
    moments.empty_at = time.monotonic()
    log(f"  queue {'empty' if moments.drained else 'NOT empty'} after {moments.empty_at - moments.healthy_at:.0f} s")
    return moments


def measure(options: Options, where: Where, log: Callable[[str], None]) -> Recovery:
    """One run: ceiling, steady load, outage, restart, drain; Keycloak and the stack stopped afterwards."""
    from registrar_local.keycloak_server import KeycloakServer, cache_dir, default_database
    from registrar_local.samples import generated_registrations
    from registrar_local.stack import local_stack as started_stack
    from registrar_local.stack import queue_depth
    from registrar_local.stack_settings import read_stack_settings

    run_id = uuid.uuid4().hex[:6]
    # Bodies for the whole load, which lasts until Keycloak is healthy: the outage plus a restart.
    planned_seconds = options.recovery_lead_seconds + options.recovery_outage_seconds + 300
    count = int(options.recovery_load_per_second * planned_seconds)
    bodies = [json.dumps(body) for body in generated_registrations(count, run_id)]
    log_dir = cache_dir() / "logs"
    with contextlib.ExitStack() as started:
        with _pinned(where.server_cpus):
            # Its log is per port (under log_dir): concurrent runs do not write into one file.
            server = KeycloakServer(database=default_database())
            started.callback(server.stop)
            server.start()
        if where.client_cpus:
            os.sched_setaffinity(0, where.client_cpus)
        ceiling_rates = _ceiling(server.url, where)
        log(f"  Keycloak's ceiling here: {max(ceiling_rates):.0f} users/s")
        stack = started.enter_context(started_stack(keycloak_url=server.url, log_dir=log_dir))
        environment = stack.function_environment() | {
            "VISIBILITY_BACKOFF_BASE_SECONDS": f"{options.recovery_backoff_base_seconds:g}",
            "VISIBILITY_BACKOFF_MAX_SECONDS": f"{options.recovery_backoff_max_seconds:g}",
        }
        function_log = Path(where.log_path).with_name("recovery-function.log")
        load = _Load(stack, environment, bodies, options.recovery_load_per_second, function_log)
        started.callback(load.stop)
        load.start()
        moments = _outage(server, options, where, load, log)
        load.stop()
        sqs = stack.sqs()
        in_dlq, left = queue_depth(sqs, stack.queues.dlq_url), queue_depth(sqs, stack.queues.source_url)
        users = _users_of_run(server.url, run_id)
    sent, created = load.sent[0], len(users)
    settings = read_stack_settings()
    return Recovery(
        load_per_second=options.recovery_load_per_second,
        lead_seconds=options.recovery_lead_seconds,
        outage_seconds=options.recovery_outage_seconds,
        backoff_base_seconds=options.recovery_backoff_base_seconds,
        backoff_max_seconds=options.recovery_backoff_max_seconds,
        circuit_cooldown_seconds=float(environment.get("CIRCUIT_COOLDOWN_SECONDS", "30")),
        max_receive_count=settings.max_receive_count,
        max_concurrency=settings.max_concurrency,
        sent=sent,
        created=created,
        duplicates=sum(users.values()) - created,
        in_dlq=in_dlq,
        left=left,
        lost=max(0, sent - created - in_dlq - left),
        down_seconds=round(moments.healthy_at - moments.stopped_at, 2),
        backlog_at_healthy=moments.backlog,
        seconds_healthy_to_empty=round(moments.empty_at - moments.healthy_at, 2),
        drained=moments.drained,
        ceiling_rates=ceiling_rates,
        receives=load.consumers.received,
        invocations=len(load.consumers.invocations),
    )
