"""Built-in checks, one module per category. Each registers through the `readiness.checks` entry point group."""
