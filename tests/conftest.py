"""Tiers: a test is `unit` unless it needs a server; see KEYCLOAK_FIXTURES and the folders below."""

from __future__ import annotations

from pathlib import Path

import pytest

from registrar_local.keycloak_server import DATABASES

pytest_plugins = ["tests.kit.fixtures"]

KEYCLOAK_FIXTURES = frozenset({"keycloak_url", "admin", "make_runtime", "service_client", "private_ca_keycloak"})
_TIER_BY_FOLDER = {"local": "e2e", "resilience": "e2e", "template": "infra"}
_TIERS = frozenset({"unit", "integration", "e2e", "infra"})
_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.path)).relative_to(_TESTS).parts[0]
        tier = _TIER_BY_FOLDER.get(folder)
        if tier is None:
            tier = "integration" if KEYCLOAK_FIXTURES & set(getattr(item, "fixturenames", ())) else "unit"
        item.add_marker(tier)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under `-m <tier>`, a folder whose tier is another one is not even imported: `make unit` stays fast."""
    selected = config.getoption("markexpr")
    try:
        folder = collection_path.relative_to(_TESTS).parts[0]
    except (ValueError, IndexError):
        return None
    tier = _TIER_BY_FOLDER.get(folder)
    if selected in _TIERS and tier is not None and tier != selected:
        return True
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--keycloak-database",
        choices=DATABASES,
        default=None,
        help="database of the Keycloak the tests start (default: KEYCLOAK_DATABASE, else postgres)",
    )
