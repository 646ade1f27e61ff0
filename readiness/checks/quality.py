"""Quality checks."""
