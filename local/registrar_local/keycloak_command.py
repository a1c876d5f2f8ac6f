"""`python -m registrar_local keycloak`: the local Keycloak in the foreground, for `sam local invoke`.

It prints the function environment `events/env.json` holds (for the chosen port) and runs until
SIGINT or SIGTERM, then stops Keycloak and its JVM and removes its temporary database.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from registrar.observability import METRICS_NAMESPACE, SERVICE_NAME
from registrar_local.keycloak_server import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    REALM,
    KeycloakServer,
    function_environment,
)

FUNCTION_LOGICAL_ID = "RegistrationFunction"
# How a `sam local invoke` container reaches the machine it runs on (see events/env.json).
DOCKER_HOST_NAME = "host.docker.internal"


def sam_env_file(port: int) -> dict[str, dict[str, str]]:
    """What `--env-vars` needs to reach a Keycloak on `port` of this machine from the SAM container."""
    return {
        FUNCTION_LOGICAL_ID: {
            **function_environment(f"http://{DOCKER_HOST_NAME}:{port}"),
            "KEYCLOAK_CLIENT_SECRET_ARN": "",
            "DLQ_URL": "",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        }
    }


def cmd_keycloak(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        print(f"{signal.Signals(signum).name}: stopping Keycloak...", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)  # kc.sh runs in its own session: only we can stop it
    server = KeycloakServer(http_port=args.port, http_host=args.host, database=args.database)
    print(f"starting Keycloak on port {args.port}...", file=sys.stderr, flush=True)
    failure: list[BaseException] = []
    # Started off the main thread so a signal is handled at once, even during the first Maven fetch.
    starting = threading.Thread(target=_start, args=(server, failure), name="keycloak-start", daemon=True)
    starting.start()
    while starting.is_alive() and not stop.wait(0.2):
        pass
    try:
        if stop.is_set():
            # kc.sh may be starting right now: wait until it exists or never will, so stop() reaches it.
            while starting.is_alive() and server.process is None:
                time.sleep(0.1)
            return 0
        if failure:
            print(f"Keycloak did not start: {failure[0]}", file=sys.stderr, flush=True)
            return 1
        _announce(server, args.port, args.env_file)
        while not stop.wait(1):
            pass
        return 0
    finally:
        server.stop()
        starting.join()
        server.stop()  # once more, in case the start finished while the first stop ran


def _start(server: KeycloakServer, failure: list[BaseException]) -> None:
    try:
        server.start()
    except Exception as error:  # noqa: BLE001 - reported by the main thread, which stops the server
        failure.append(error)


def _announce(server: KeycloakServer, port: int, env_file: str | None) -> None:
    environment = sam_env_file(port)
    if env_file:
        Path(env_file).write_text(json.dumps(environment, indent=2) + "\n", encoding="utf-8")
    where = f"written to {env_file}" if env_file else "events/env.json holds them for port 8080"
    print(
        f"Keycloak is ready at {server.url}: realm {REALM}, admin console user {ADMIN_USERNAME} "
        f"password {ADMIN_PASSWORD}; log {server.log_path}",
        file=sys.stderr,
    )
    print(f"the function environment for sam local invoke --env-vars ({where}):", file=sys.stderr, flush=True)
    print(json.dumps(environment, indent=2), flush=True)
    print("Ctrl-C stops Keycloak.", file=sys.stderr, flush=True)
