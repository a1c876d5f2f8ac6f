"""Operator tools for a deployment: set Keycloak up, check it, send registrations, redrive dead letters."""
