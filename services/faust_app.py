"""The worker app for Faust's own command line:
`faust -A services.faust_app worker --without-web -l info` (same as `dealwatch worker`)."""

import logging

from services.config import get_settings
from services.worker import create_app
from services.worker_setup import prepare_worker

for _note in prepare_worker(get_settings()):
    logging.getLogger("dealwatch.worker").warning(_note)

app = create_app()
