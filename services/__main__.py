"""`python -m services ...` is the `dealwatch` command."""

from services.cli import app

app()
