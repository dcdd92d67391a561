"""The worker app for Faust's own command line: `faust -A services.faust_app worker -l info`."""

from services.worker import create_app

app = create_app()
