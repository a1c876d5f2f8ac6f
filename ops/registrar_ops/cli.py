"""Operator commands for a deployment: setup-keycloak, check, send, redrive."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import requests
from botocore.exceptions import NoCredentialsError, NoRegionError
from keycloak.exceptions import KeycloakConnectionError

from registrar.adapters.ca_bundle import tls_verify
from registrar.adapters.keycloak import tls_reason
from registrar.config import ConfigurationError, Settings, policy_from_environment
from registrar.domain.outcomes import PERMANENT
from registrar.domain.registration import comma_separated
from registrar_ops.aws import aws_client
from registrar_ops.keycloak_admin import TOKEN_VARIABLE, AdminCredentialsMissing, AdminLogin, connect_admin
from registrar_ops.keycloak_check import check_deployment, failed
from registrar_ops.keycloak_setup import SetupRequest, client_secret, plan_setup
from registrar_ops.redrive import RedriveFilter, redrive
from registrar_ops.secret_sink import SecretFile, SecretSink, SecretsManagerSecret
from registrar_ops.sender import check_lines, send_lines


def say(text: str) -> None:
    print(text, flush=True)


def cmd_setup_keycloak(args: argparse.Namespace) -> int:
    sink = _secret_sink(args)
    if sink is None and not args.dry_run:
        say("error: give --secret-file PATH or --secret-name NAME: the client secret never goes to stdout")
        return 2
    admin = connect_admin(_admin_login(args, args.realm))
    request = SetupRequest(
        client_id=args.client_id,
        registration_id_attribute=args.registration_id_attribute,
        groups=_comma_separated(args.groups),
        attributes=_comma_separated(args.attributes),
    )
    steps = plan_setup(admin, request)
    for step in steps:
        say(f"{'would ' if args.dry_run else ''}{step.description}")
        if not args.dry_run:
            step.apply()
    secret = client_secret(admin, args.client_id)
    secret_changed = False
    if sink is not None and (secret is None or not sink.holds(secret)):
        secret_changed = True
        if args.dry_run:
            say("would store the client secret")
        elif secret is not None:
            say(f"stored the client secret: {sink.store(secret)}")
    if not steps and not secret_changed:
        say(f"nothing to change: realm {args.realm} is set up for client {args.client_id}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_environment()
    except ConfigurationError as error:
        say(f"ERROR   {error}: set the function's environment variables before running check")
        return 1
    admin_login = None
    if args.admin_user or os.environ.get(TOKEN_VARIABLE):
        admin_login = AdminLogin(
            server_url=str(settings.keycloak_url),
            realm=settings.realm,
            username=args.admin_user,
            user_realm=args.admin_realm,
            client_id=args.admin_client_id,
        )
    findings = check_deployment(settings, admin_login)
    for finding in findings:
        say(finding.line())
    return 1 if failed(findings) else 0


def cmd_send(args: argparse.Namespace) -> int:
    overrides = {
        "allowed_groups": args.allowed_groups,
        "allowed_attributes": args.allowed_attributes,
        "allowed_required_actions": args.allowed_required_actions,
        "allow_passwords": "true" if args.allow_passwords else None,
        "registration_id_attribute": args.registration_id_attribute,
    }
    policy = policy_from_environment(os.environ, overrides)
    with Path(args.file).open(encoding="utf-8") as lines:
        report = check_lines(lines, policy)
    for bad in report.invalid:
        say(f"line {bad.number}: {bad.reason}")
    if report.invalid and not args.skip_invalid:
        say(f"{len(report.invalid)} invalid lines: nothing sent (fix them, or pass --skip-invalid)")
        return 1
    send_lines(aws_client("sqs", args.endpoint_url, args.region), args.queue_url, report, group_id=args.group_id)
    for number, code in report.failed:
        say(f"line {number}: SQS refused it ({code})")
    skipped = f", skipped {len(report.invalid)} invalid" if report.invalid else ""
    say(f"sent {report.sent} of {len(report.valid)} valid lines to {args.queue_url}{skipped}")
    return 1 if report.failed else 0


def cmd_redrive(args: argparse.Namespace) -> int:
    only = RedriveFilter(outcome=args.outcome, reason_contains=args.reason_contains)
    report = redrive(aws_client("sqs", args.endpoint_url, args.region), args.dlq_url, args.queue_url, only)
    if report.method == "StartMessageMoveTask":
        say(f"StartMessageMoveTask started: about {report.moved} messages are moving back")
    else:
        say(f"moved {report.moved}, left in the DLQ {report.left}, failed {report.failed}")
    return 1 if report.failed else 0


def _comma_separated(value: str | None) -> tuple[str, ...]:
    return tuple(sorted(comma_separated(value or "")))


def _admin_login(args: argparse.Namespace, realm: str) -> AdminLogin:
    try:
        # The function's own reading of a bundle: a readable PEM file, or a clear error.
        verify = tls_verify(verify_tls=not args.insecure, ca_bundle=args.ca_bundle, task_root="")
    except ConfigurationError as error:
        raise ConfigurationError(str(error).replace("KEYCLOAK_CA_BUNDLE", "--ca-bundle", 1)) from None
    return AdminLogin(
        server_url=args.server_url,
        realm=realm,
        username=args.admin_user,
        user_realm=args.admin_realm,
        client_id=args.admin_client_id,
        verify=verify,
    )


def _secret_sink(args: argparse.Namespace) -> SecretSink | None:
    if args.secret_file:
        return SecretFile(Path(args.secret_file))
    if args.secret_name:
        return SecretsManagerSecret(aws_client("secretsmanager", args.endpoint_url, args.region), args.secret_name)
    return None


def _admin_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--admin-user", help="admin username (password in KEYCLOAK_ADMIN_PASSWORD)")
    command.add_argument("--admin-realm", default="master", help="the admin user's realm (default master)")
    command.add_argument("--admin-client-id", default="admin-cli")


def _aws_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--endpoint-url", help="AWS endpoint (moto's URL, say); omit for AWS")
    command.add_argument("--region")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="registrar-ops", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    setup = commands.add_parser(
        "setup-keycloak",
        help="create or update the function's client, roles, user-profile attribute and groups (idempotent)",
        description="Admin credentials: --admin-user with KEYCLOAK_ADMIN_PASSWORD, or KEYCLOAK_ADMIN_TOKEN.",
    )
    setup.add_argument("--server-url", required=True, help="Keycloak's base URL")
    setup.add_argument("--realm", required=True)
    setup.add_argument("--client-id", default="registrar")
    setup.add_argument("--registration-id-attribute", default="registrationId")
    setup.add_argument("--groups", help="comma-separated group paths to create if missing (ALLOWED_GROUPS)")
    setup.add_argument(
        "--attributes",
        help="comma-separated user attributes to declare in the user profile if missing (ALLOWED_ATTRIBUTES)",
    )
    setup.add_argument("--secret-file", help="write the client secret here, mode 0600")
    setup.add_argument("--secret-name", help="write the client secret to this Secrets Manager secret")
    setup.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    trust = setup.add_mutually_exclusive_group()
    trust.add_argument("--ca-bundle", help="PEM file of the CA that signed Keycloak's certificate (a private CA)")
    trust.add_argument("--insecure", action="store_true", help="skip TLS verification (development only)")
    _admin_options(setup)
    _aws_options(setup)
    setup.set_defaults(func=cmd_setup_keycloak)

    check = commands.add_parser(
        "check",
        help="check Keycloak against the function's settings (its environment variables); non-zero if it would fail",
    )
    _admin_options(check)
    check.set_defaults(func=cmd_check)

    send = commands.add_parser("send", help="validate a JSON-lines file as the function will, then enqueue it")
    send.add_argument("file", help="JSON-lines file, one registration per line")
    send.add_argument("--queue-url", required=True)
    send.add_argument("--skip-invalid", action="store_true", help="send the valid lines even if some are invalid")
    send.add_argument("--group-id", help="FIFO MessageGroupId for every line (default: one per email)")
    send.add_argument("--allowed-groups", help="instead of ALLOWED_GROUPS")
    send.add_argument("--allowed-attributes", help="instead of ALLOWED_ATTRIBUTES")
    send.add_argument("--allowed-required-actions", help="instead of ALLOWED_REQUIRED_ACTIONS")
    send.add_argument("--allow-passwords", action="store_true", help="as ALLOW_PASSWORDS=true")
    send.add_argument("--registration-id-attribute", help="instead of REGISTRATION_ID_ATTRIBUTE")
    _aws_options(send)
    send.set_defaults(func=cmd_send)

    back = commands.add_parser(
        "redrive", help="move dead letters back to the source queue, optionally only those with a given reason"
    )
    back.add_argument("--dlq-url", required=True)
    back.add_argument("--queue-url", required=True, help="the source queue the letters go back to")
    back.add_argument(
        "--outcome", choices=sorted(kind.value for kind in PERMANENT), help="only letters with this outcome"
    )
    back.add_argument("--reason-contains", help="only letters whose reason contains this text")
    _aws_options(back)
    back.set_defaults(func=cmd_redrive)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (AdminCredentialsMissing, ConfigurationError) as error:
        say(f"error: {error}")
        return 2
    except KeycloakConnectionError as error:
        say(f"error: {unreachable(error)}")
        return 2
    except (NoRegionError, NoCredentialsError) as error:
        # boto3's own words name neither the option nor the variables that fix it.
        say(f"error: {error}: pass --region or set AWS_REGION, and give credentials as for the AWS CLI")
        return 2


def unreachable(error: KeycloakConnectionError) -> str:
    """What python-keycloak's "Can't connect to server" hides: the cause, and the fix for a private CA."""
    cause = error.__cause__
    if isinstance(cause, requests.exceptions.SSLError):
        return (
            f"cannot reach Keycloak: TLS failed ({tls_reason(cause)}); behind a private CA? give its PEM bundle "
            "(setup-keycloak --ca-bundle PATH; check reads KEYCLOAK_CA_BUNDLE, as the function does)"
        )
    return f"cannot reach Keycloak: {cause or error}"


if __name__ == "__main__":
    sys.exit(main())
