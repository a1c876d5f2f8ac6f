"""`demo`: start the stack, enqueue while the consumers already poll, show progress, report.

Phases, each announced on its own line: starting Keycloak, starting SQS (ElasticMQ),
enqueueing (the consumers start at once, as on a live queue), consuming. SIGINT or SIGTERM in
any of them stops the run within seconds, settles the batches in flight, prints the summary
so far and leaves no process behind.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from registrar_local.interrupts import Interrupts, RunInterrupted, stop_leftover_descendants
from registrar_local.keycloak_server import Database
from registrar_local.processes import command_line, descendants
from registrar_local.run_report import (
    CREATED,
    MemoryMeter,
    QueueSampler,
    RunFigures,
    RunProcesses,
    memory_table,
    process_roles,
    settings_line,
    summary_table,
)
from registrar_local.samples import event_bodies, generated_registrations
from registrar_local.stack import ConsumerRun, Enqueuer, LocalStack, local_stack, queue_depth, run_consumers
from registrar_local.stack_settings import StackSettings, read_stack_settings

SENDER_THREADS = 4
_TICK_SECONDS = 0.5
_MEMORY_EVERY_TICKS = 10


@dataclass
class DemoOptions:
    count: int = 100
    keycloak_url: str | None = None
    timeout: float = 600
    keep_running: bool = False
    dashboard: bool = True
    settings: StackSettings | None = None
    log_dir: Path | None = None
    database: Database | None = None
    """The started Keycloak's database (default: KEYCLOAK_DATABASE, else postgres)."""
    # The last guard against leftovers; off for a caller with children of its own (the benchmarks).
    stop_leftovers: bool = True
    servers_beside: dict[str, int] = field(default_factory=dict)
    """Servers of the run that it did not start (the benchmark's Keycloak), by name: memory counts them."""


@dataclass
class DemoResult:
    """Everything a run measured; the benchmark reads it too."""

    figures: RunFigures = field(default_factory=RunFigures)
    run: ConsumerRun = field(default_factory=ConsumerRun)
    memory: MemoryMeter = field(default_factory=MemoryMeter)
    sampler: QueueSampler | None = None
    first_send: float | None = None  # wall-clock time of the first SendMessageBatch
    log_path: Path | None = None
    dashboard_path: Path | None = None
    interrupted_by: int | None = None
    exit_code: int = 0


def say(console: Console, text: str) -> None:
    """One plain line: no markup, no highlighting, never wrapped (URLs stay whole and copyable)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    settings = options.settings or read_stack_settings()
    stop = threading.Event()
    interrupts = Interrupts(stop, lambda text: say(console, text)).install()
    result = DemoResult()
    kept_until_signal = False  # with --keep-running, the signal is the normal end
    bodies = event_bodies() + [json.dumps(r) for r in generated_registrations(options.count)]
    try:
        with ExitStack() as owned:
            try:
                with interrupts.raising():
                    stack = owned.enter_context(
                        local_stack(
                            keycloak_url=options.keycloak_url,
                            settings=settings,
                            on_phase=lambda phase: say(console, f"{phase}..."),
                            log_dir=options.log_dir,
                            database=options.database,
                        )
                    )
            except RunInterrupted:
                stack = None
            if stack is not None:
                _consume(
                    stack, bodies, options, stop, console, result, interrupted=lambda: interrupts.signum is not None
                )
                _print_summary(console, result)
                if options.dashboard and result.log_path is not None and result.sampler is not None:
                    _draw_dashboard(console, stack, result)
                if options.keep_running and interrupts.signum is None:
                    say(console, "Keycloak and ElasticMQ keep running; Ctrl-C stops them")
                    stop.clear()
                    while not stop.is_set():
                        stop.wait(1)
                    kept_until_signal = True
            else:
                _print_summary(console, result)
    finally:
        interrupts.restore()
        if options.stop_leftovers:
            # multiprocessing's resource tracker is expected here (it outlives the environments).
            leftovers = [
                f"{pid} ({command_line(pid)[:60]})"
                for pid in descendants(os.getpid())
                if "multiprocessing.resource_tracker" not in command_line(pid)
            ]
            stop_leftover_descendants()
            if leftovers:
                say(console, f"stopped leftover processes: {', '.join(leftovers)}")
    result.interrupted_by = interrupts.signum
    if interrupts.exit_code is not None and not kept_until_signal:
        result.exit_code = interrupts.exit_code
    elif not result.figures.drained:
        result.exit_code = 1
    return result


def _consume(
    stack: LocalStack,
    bodies: list[str],
    options: DemoOptions,
    stop: threading.Event,
    console: Console,
    result: DemoResult,
    interrupted: Callable[[], bool],
) -> None:
    for line in (
        f"Keycloak {stack.keycloak_url} on {stack.keycloak_database} database (admin console: realm 'registrar')",
        f"SQS (ElasticMQ) {stack.sqs_endpoint}",
        f"queue {stack.queues.source_url}",
        f"DLQ {stack.queues.dlq_url}",
        settings_line(stack.settings),
    ):
        say(console, line)
    sqs = stack.sqs()
    result.sampler = QueueSampler(sqs, stack.queues.source_url, stack.queues.dlq_url)
    result.log_path = stack.log_dir / "function.log"
    consumers = threading.Thread(
        target=run_consumers,
        args=(stack.sqs, stack.queues.source_url, stack.function_environment(), stack.settings, stop),
        kwargs={"log_path": result.log_path, "run": result.run},
        name="consumers",
    )
    consumers.start()
    enqueuer = Enqueuer(stack.sqs, stack.queues.source_url, bodies, stop, threads=SENDER_THREADS)
    say(
        console,
        f"enqueueing {len(bodies)} messages ({len(bodies) - options.count} from events/, {options.count} generated) "
        f"from {SENDER_THREADS} threads; the consumers are already polling",
    )
    started = time.monotonic()
    result.first_send = time.time()
    enqueuer.start()
    try:
        servers = {**stack.server_pids, **options.servers_beside}
        result.figures.drained = _watch(servers, enqueuer, len(bodies), options.timeout, stop, console, result)
    finally:
        result.figures.elapsed_seconds = time.monotonic() - started
        stop.set()
        consumers.join()
        try:
            enqueuer.join()
        except RuntimeError as error:
            say(console, str(error))
        result.figures.sent = enqueuer.sent
        result.figures.peak_depth = result.sampler.peak_depth
        result.figures.in_dlq = result.sampler.sample().dlq_visible
        result.figures.left = queue_depth(sqs, stack.queues.source_url)
    if not result.figures.drained and not interrupted():
        say(console, "the queue did not drain before --timeout")


def _watch(
    servers: dict[str, int],
    enqueuer: Enqueuer,
    total: int,
    timeout: float,
    stop: threading.Event,
    console: Console,
    result: DemoResult,
) -> bool:
    """Progress bar and ETA until the queue is empty with everything sent; True when it drained."""
    assert result.sampler is not None
    started = time.monotonic()
    empty_ticks = ticks = 0
    announced = False

    def roles() -> RunProcesses:
        return process_roles(servers, result.run, os.getpid())

    columns = (TextColumn("registering"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} users/s"))
    with Progress(*columns, TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("registering", total=total, rate="-")
        while not stop.is_set() and time.monotonic() < started + timeout:
            sample = result.sampler.sample()
            elapsed = time.monotonic() - started
            created = result.run.metrics.snapshot().get(CREATED, 0)
            bar.update(task, completed=max(0, enqueuer.sent - sample.depth), rate=f"{created / elapsed:.0f}")
            if enqueuer.done and not announced:
                announced = True
                bar.console.print(f"enqueued {enqueuer.sent} in {elapsed:.1f} s; consuming...", markup=False)
            if ticks % _MEMORY_EVERY_TICKS == 0:
                result.memory.sample(roles())
            ticks += 1
            empty_ticks = empty_ticks + 1 if sample.depth == 0 and enqueuer.done else 0
            if empty_ticks == 1:
                result.figures.drained_at = sample.at
            if empty_ticks >= 2:
                result.memory.sample(roles())
                return True
            stop.wait(_TICK_SECONDS)
    result.memory.sample(roles())
    return False


def _print_summary(console: Console, result: DemoResult) -> None:
    console.print(summary_table(result.run, result.figures))
    if result.memory.peaks:
        console.print(memory_table(result.memory))
    if result.log_path is not None:
        say(console, f"function log: {result.log_path}")


def _draw_dashboard(console: Console, stack: LocalStack, result: DemoResult) -> None:
    from registrar_local.dashboard import draw_run  # noqa: PLC0415 - matplotlib only when drawing

    assert result.log_path is not None
    assert result.sampler is not None
    path = result.log_path.with_name("dashboard.png")
    try:
        draw_run(path, result.run, result.sampler.samples)
    except Exception as error:  # noqa: BLE001 - the picture is a bonus; the run's summary stands
        say(console, f"dashboard picture not written: {type(error).__name__}: {error}")
        return
    result.dashboard_path = path
    say(console, f"dashboard: {path}")
