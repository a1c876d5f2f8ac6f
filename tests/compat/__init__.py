"""The suites that speak to Keycloak, run against each Keycloak version users run (make test-compat)."""
