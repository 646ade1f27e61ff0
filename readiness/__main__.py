"""`python -m readiness` runs the command line, as the `readiness` script does."""

from readiness.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
