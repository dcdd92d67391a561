"""`python -m dealwatch ...` is the `dealwatch` command."""

from dealwatch.services.cli import run

run()
