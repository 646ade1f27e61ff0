"""Artifact checks."""
