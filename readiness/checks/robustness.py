"""Robustness checks."""
