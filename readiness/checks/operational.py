"""Operational checks."""
