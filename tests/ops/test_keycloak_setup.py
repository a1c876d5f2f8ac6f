"""setup-keycloak on a fresh realm, then check, against the real Keycloak; and check on broken realms."""

from __future__ import annotations

import stat

import pytest
from keycloak import KeycloakOpenID

from registrar_local.keycloak_server import ADMIN_PASSWORD, ADMIN_USERNAME
from registrar_ops.cli import main
from registrar_ops.keycloak_admin import AdminLogin, connect_admin
from registrar_ops.keycloak_setup import REALM_MANAGEMENT

GROUPS = "/customers,/teams/blue"


@pytest.fixture
def realm(admin, tag, monkeypatch):
    """An empty realm of its own for each test."""
    monkeypatch.setenv("KEYCLOAK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.delenv("KEYCLOAK_ADMIN_TOKEN", raising=False)
    admin.create_realm({"realm": tag, "enabled": True})
    try:
        yield tag
    finally:
        admin.delete_realm(tag)


@pytest.fixture
def realm_admin(keycloak_url, realm):
    return connect_admin(AdminLogin(server_url=keycloak_url, realm=realm, username=ADMIN_USERNAME))


def setup(keycloak_url, realm, secret_file, *extra: str) -> int:
    return main(
        [
            "setup-keycloak",
            "--server-url",
            keycloak_url,
            "--realm",
            realm,
            "--admin-user",
            ADMIN_USERNAME,
            "--groups",
            GROUPS,
            "--secret-file",
            str(secret_file),
            *extra,
        ]
    )


def check(keycloak_url, realm, secret_file, monkeypatch, *extra: str) -> int:
    environment = {
        "KEYCLOAK_URL": keycloak_url,
        "KEYCLOAK_REALM": realm,
        "KEYCLOAK_CLIENT_ID": "registrar",
        "KEYCLOAK_CLIENT_SECRET": secret_file.read_text(),
        "ALLOWED_GROUPS": GROUPS,
        "ALLOWED_REQUIRED_ACTIONS": "VERIFY_EMAIL",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return main(["check", *extra])


def test_setup_on_an_empty_realm_then_check_passes(keycloak_url, realm, tmp_path, monkeypatch, capsys):
    secret_file = tmp_path / "client-secret"
    assert setup(keycloak_url, realm, secret_file) == 0
    out = capsys.readouterr().out
    assert "create confidential client registrar" in out
    assert "grant the service account realm-management roles manage-users, query-groups, query-users, view-users" in out
    assert "declare user-profile attribute registrationId" in out
    assert "create group /teams/blue" in out
    secret = secret_file.read_text()
    assert len(secret) >= 16
    assert secret not in out
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600

    assert check(keycloak_url, realm, secret_file, monkeypatch, "--admin-user", ADMIN_USERNAME) == 0
    out = capsys.readouterr().out
    assert "ERROR" not in out
    assert "WARNING" not in out
    assert "service account roles: exactly" in out
    assert "user profile declares registrationId, admin-only" in out
    assert "group /teams/blue exists" in out
    assert "required action VERIFY_EMAIL exists and is enabled" in out

    # The function's own four roles are enough to read the required actions.
    assert check(keycloak_url, realm, secret_file, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out
    assert "required action VERIFY_EMAIL exists and is enabled" in out


def test_a_second_setup_changes_nothing_and_says_so(keycloak_url, realm, realm_admin, tmp_path, capsys):
    secret_file = tmp_path / "client-secret"
    assert setup(keycloak_url, realm, secret_file, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would create confidential client registrar" in out
    assert realm_admin.get_client_id("registrar") is None
    assert not secret_file.exists()

    assert setup(keycloak_url, realm, secret_file) == 0
    capsys.readouterr()
    written = secret_file.stat().st_mtime_ns
    profile = realm_admin.get_realm_users_profile()

    assert setup(keycloak_url, realm, secret_file) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"nothing to change: realm {realm} is set up for client registrar"
    assert secret_file.stat().st_mtime_ns == written
    assert realm_admin.get_realm_users_profile() == profile


def without_attribute(realm_admin) -> None:
    profile = realm_admin.get_realm_users_profile()
    profile["attributes"] = [item for item in profile["attributes"] if item["name"] != "registrationId"]
    realm_admin.update_realm_users_profile(profile)


def service_account_roles(realm_admin, *names: str, grant: bool) -> None:
    user_id = realm_admin.get_client_service_account_user(realm_admin.get_client_id("registrar"))["id"]
    management = realm_admin.get_client_id(REALM_MANAGEMENT)
    roles = [realm_admin.get_client_role(management, name) for name in names]
    if grant:
        realm_admin.assign_client_role(user_id, management, roles)
    else:
        realm_admin.delete_client_roles_of_user(user_id, management, roles)


@pytest.mark.parametrize(
    ("breakage", "finding", "exit_code"),
    [
        (
            lambda realm_admin: service_account_roles(realm_admin, "manage-users", grant=False),
            "ERROR   the service account lacks realm-management role manage-users",
            1,
        ),
        (
            without_attribute,
            "ERROR   the user profile does not declare registrationId",
            1,
        ),
        (
            lambda realm_admin: service_account_roles(realm_admin, "realm-admin", grant=True),
            "WARNING the service account holds realm-management role manage-realm (it can administer the realm)",
            0,
        ),
        (
            lambda realm_admin: realm_admin.delete_group(realm_admin.get_group_by_path("/customers")["id"]),
            "ERROR   allowlisted group /customers does not exist",
            1,
        ),
    ],
    ids=["missing-role", "undeclared-attribute", "over-privileged", "missing-group"],
)
def test_check_reports_what_is_wrong(
    keycloak_url, realm, realm_admin, tmp_path, monkeypatch, capsys, breakage, finding, exit_code
):
    secret_file = tmp_path / "client-secret"
    assert setup(keycloak_url, realm, secret_file) == 0
    breakage(realm_admin)
    capsys.readouterr()
    assert check(keycloak_url, realm, secret_file, monkeypatch) == exit_code
    out = capsys.readouterr().out
    assert finding in out
    # setup-keycloak puts it right again.
    assert setup(keycloak_url, realm, secret_file) == 0
    assert check(keycloak_url, realm, secret_file, monkeypatch) == 0


def test_check_reports_a_disabled_required_action_read_as_the_administrator(
    keycloak_url, realm, realm_admin, tmp_path, monkeypatch, capsys
):
    secret_file = tmp_path / "client-secret"
    assert setup(keycloak_url, realm, secret_file) == 0
    action = realm_admin.get_required_action_by_alias("VERIFY_EMAIL")
    realm_admin.update_required_action("VERIFY_EMAIL", {**action, "enabled": False})
    capsys.readouterr()
    assert check(keycloak_url, realm, secret_file, monkeypatch, "--admin-user", ADMIN_USERNAME) == 1
    assert "ERROR   required action VERIFY_EMAIL is disabled" in capsys.readouterr().out


def test_setup_accepts_an_admin_token_instead_of_a_password(keycloak_url, realm, realm_admin, tmp_path, monkeypatch):
    token = KeycloakOpenID(server_url=keycloak_url, realm_name="master", client_id="admin-cli").token(
        ADMIN_USERNAME, ADMIN_PASSWORD
    )["access_token"]
    monkeypatch.delenv("KEYCLOAK_ADMIN_PASSWORD")
    monkeypatch.setenv("KEYCLOAK_ADMIN_TOKEN", token)
    secret_file = tmp_path / "client-secret"
    assert (
        main(["setup-keycloak", "--server-url", keycloak_url, "--realm", realm, "--secret-file", str(secret_file)]) == 0
    )
    assert realm_admin.get_client_id("registrar") is not None
    assert secret_file.exists()


def test_an_allowlisted_attribute_the_profile_lacks_is_a_warning_that_setup_puts_right(
    keycloak_url, realm, realm_admin, tmp_path, monkeypatch, capsys
):
    secret_file = tmp_path / "client-secret"
    assert setup(keycloak_url, realm, secret_file) == 0
    monkeypatch.setenv("ALLOWED_ATTRIBUTES", "signupSource,registrationId")
    capsys.readouterr()
    assert check(keycloak_url, realm, secret_file, monkeypatch) == 0  # the function survives it: a warning
    assert "WARNING the user profile does not declare signupSource (ALLOWED_ATTRIBUTES)" in capsys.readouterr().out

    assert setup(keycloak_url, realm, secret_file, "--attributes", "signupSource,registrationId") == 0
    assert capsys.readouterr().out.splitlines() == [
        "declare user-profile attribute signupSource (admins view and edit)"
    ]
    assert check(keycloak_url, realm, secret_file, monkeypatch) == 0
    assert "WARNING" not in capsys.readouterr().out
    names = [item["name"] for item in realm_admin.get_realm_users_profile()["attributes"]]
    assert names.count("signupSource") == 1
    assert names.count("registrationId") == 1


def test_attributes_already_declared_are_left_as_they_are_and_the_missing_declared_in_one_change(
    keycloak_url, realm, realm_admin, tmp_path, capsys
):
    secret_file = tmp_path / "client-secret"
    assert setup(keycloak_url, realm, secret_file) == 0
    profile = realm_admin.get_realm_users_profile()
    users_see_it = {"view": ["admin", "user"], "edit": ["admin", "user"]}
    profile["attributes"].append({"name": "signupSource", "displayName": "Source", "permissions": users_see_it})
    realm_admin.update_realm_users_profile(profile)
    capsys.readouterr()

    assert setup(keycloak_url, realm, secret_file, "--attributes", "signupSource,referrer,marketingConsent") == 0

    assert capsys.readouterr().out.splitlines() == [
        "declare user-profile attributes marketingConsent, referrer (admins view and edit)"
    ]
    declared = {item["name"]: item for item in realm_admin.get_realm_users_profile()["attributes"]}
    assert declared["signupSource"]["permissions"] == users_see_it
    assert (
        declared["referrer"]["permissions"]
        == declared["marketingConsent"]["permissions"]
        == {
            "view": ["admin"],
            "edit": ["admin"],
        }
    )
