"""Benchmarks of the registration function against a local Keycloak: `python -m bench`."""
