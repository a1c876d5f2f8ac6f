"""What the test suites share: AWS in-process, the in-memory Keycloak, events, logs, the real Keycloak,
and the message contract's cases.

Suites import from here and never from each other's conftest. `tests.kit.fixtures` is loaded
as a pytest plugin by the root conftest.
"""
