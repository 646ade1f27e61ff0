"""Example third-party checks for readiness."""
