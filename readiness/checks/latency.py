"""Latency checks."""
