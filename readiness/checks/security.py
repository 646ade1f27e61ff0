"""Security checks."""
