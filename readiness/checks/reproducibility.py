"""Reproducibility checks."""
