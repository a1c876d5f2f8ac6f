"""Command line of the local stack: send, poll, demo, keycloak, schema."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from registrar.config import policy_from_environment
from registrar_local.demo import DemoOptions, run_demo
from registrar_local.keycloak_command import cmd_keycloak
from registrar_local.keycloak_server import DATABASES, default_database
from registrar_local.samples import read_json_lines
from registrar_local.schema import SCHEMA_PATH, deployment_schema, registration_schema, render
from registrar_local.sqs_client import sqs_client
from registrar_local.stack import ConsumerRun, queue_depth, run_consumers, send_bodies, wait_until_drained
from registrar_local.stack_settings import read_stack_settings

console = Console()


def stop_on_signals(stop: threading.Event) -> None:
    """SIGINT/SIGTERM stop the pollers after their batch in flight; nothing received is lost."""

    def handle(signum: int, _frame: object) -> None:
        console.print(f"[yellow]{signal.Signals(signum).name}: finishing the batches in flight...[/]")
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def cmd_send(args: argparse.Namespace) -> int:
    bodies = read_json_lines(Path(args.file))
    sent = send_bodies(sqs_client(args.endpoint_url, args.region), args.queue_url, bodies)
    console.print(f"sent {sent} messages to {args.queue_url}")
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    settings = read_stack_settings()
    settings = replace(
        settings,
        max_concurrency=args.concurrency or settings.max_concurrency,
        batch_size=args.batch_size or settings.batch_size,
        function_timeout=args.function_timeout or settings.function_timeout,
    )
    stop = threading.Event()
    stop_on_signals(stop)
    sqs = sqs_client(args.endpoint_url, args.region)
    queue_depth(sqs, args.queue_url)  # fails fast on a wrong queue URL or missing credentials
    run = ConsumerRun()
    log_path = Path(args.log_file)
    consumers = threading.Thread(
        target=run_consumers,
        args=(
            lambda: sqs_client(args.endpoint_url, args.region),
            args.queue_url,
            dict(os.environ),
            settings,
            stop,
            log_path,
            run,
        ),
    )
    consumers.start()
    if args.until_drained:
        wait_until_drained(sqs, args.queue_url, stop, timeout=args.timeout)
        stop.set()
    consumers.join()
    console.print(f"received {run.received}, deleted {run.deleted}, returned {run.returned}; function log: {log_path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    options = DemoOptions(
        count=args.count,
        keycloak_url=args.keycloak_url,
        timeout=args.timeout,
        keep_running=args.keep_running,
        dashboard=not args.no_dashboard,
        log_dir=Path(args.log_dir) if args.log_dir else None,
        database=args.database,
    )
    return run_demo(options, console).exit_code


def cmd_schema(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    schema = registration_schema()
    if args.deployment:
        sys.stdout.write(render(deployment_schema(policy_from_environment(os.environ), schema)))
        return 0
    text = render(schema)
    output = Path(args.output)
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            console.print(f"[red]{output} does not match the model; run: python -m registrar_local schema[/]")
            return 1
        console.print(f"{output} matches the model")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {output}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="registrar-local", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    send = commands.add_parser("send", help="enqueue a JSON-lines file, one registration per line")
    send.add_argument("file", help="JSON-lines file; each line becomes one message body as written")
    send.add_argument("--queue-url", required=True)
    send.add_argument("--endpoint-url", help="SQS endpoint (the local server's URL); omit for real SQS")
    send.add_argument("--region")
    send.set_defaults(func=cmd_send)

    poll = commands.add_parser(
        "poll", help="consume a queue the way the event source mapping does (real SQS or a local server)"
    )
    poll.add_argument("--queue-url", required=True)
    poll.add_argument("--endpoint-url", help="SQS endpoint (the local server's URL); omit for real SQS")
    poll.add_argument("--region")
    poll.add_argument("--concurrency", type=int, help="concurrent invocations (default: the template's MaxConcurrency)")
    poll.add_argument("--batch-size", type=int, help="messages per invocation (default: the template's BatchSize)")
    poll.add_argument("--function-timeout", type=int, help="seconds (default: the template's FunctionTimeout)")
    poll.add_argument("--until-drained", action="store_true", help="stop once the queue is empty")
    poll.add_argument(
        "--timeout", type=float, default=3600, help="with --until-drained: give up after this many seconds"
    )
    poll.add_argument("--log-file", default="function.log", help="where the function's log lines go")
    poll.set_defaults(func=cmd_poll)

    demo = commands.add_parser("demo", help="start Keycloak and SQS here, register events/ plus --count users, report")
    demo.add_argument("--count", type=int, default=100, help="generated registrations to add (default 100)")
    demo.add_argument(
        "--keycloak-url", help="use this running Keycloak (with the project's realm) instead of starting one"
    )
    demo.add_argument(
        "--database",
        choices=DATABASES,
        default=default_database(),
        help="the started Keycloak's database: a throwaway PostgreSQL cluster (default; KEYCLOAK_DATABASE changes it)"
        " or dev-file, Keycloak's H2 development database, quicker to start",
    )
    demo.add_argument(
        "--keep-running", action="store_true", help="after the report, keep Keycloak and ElasticMQ up until Ctrl-C"
    )
    demo.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the queue to drain")
    demo.add_argument("--no-dashboard", action="store_true", help="skip the dashboard picture")
    demo.add_argument(
        "--log-dir", help="where the logs and the dashboard picture go (default: logs/ in the local stack's cache)"
    )
    demo.set_defaults(func=cmd_demo)

    keycloak = commands.add_parser(
        "keycloak",
        help="the local Keycloak with the project's realm, in the foreground, for sam local invoke",
    )
    keycloak.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080, what events/env.json names)")
    keycloak.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 when Docker on Linux must reach it)",
    )
    keycloak.add_argument("--env-file", help="also write the printed --env-vars file here")
    keycloak.add_argument(
        "--database",
        choices=DATABASES,
        default=default_database(),
        help="Keycloak's database: a throwaway PostgreSQL cluster (default) or dev-file (H2)",
    )
    keycloak.set_defaults(func=cmd_keycloak)

    schema = commands.add_parser("schema", help="write the registration message's JSON Schema from the model")
    schema.add_argument("--output", default=str(SCHEMA_PATH), help=f"where to write it (default {SCHEMA_PATH.name})")
    schema.add_argument(
        "--check", action="store_true", help="only compare: exit 1 when the file differs from the model"
    )
    schema.add_argument(
        "--deployment",
        action="store_true",
        help="print the schema narrowed to the allowlists in this environment (ALLOWED_GROUPS, ...)",
    )
    schema.set_defaults(func=cmd_schema)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
