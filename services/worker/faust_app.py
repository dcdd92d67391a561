"""The worker app for Faust's own command line:
`faust -A dealwatch.services.worker.faust_app worker --without-web -l info` (same as
`dealwatch worker`)."""

import logging

from dealwatch.services.config import get_settings
from dealwatch.services.worker.app import create_app
from dealwatch.services.worker.leave import leave_on_clean_exit
from dealwatch.services.worker.startup import prepare_worker
from dealwatch.services.worker.waiting import Unavailable

_log = logging.getLogger("dealwatch.worker")
try:
    _notes = prepare_worker(get_settings(), _log.warning)
except Unavailable as _error:
    raise SystemExit(f"error: {_error}") from None
for _note in _notes:
    _log.warning(_note)

app = create_app()
leave_on_clean_exit(get_settings(), app.conf.consumer_group_instance_id)
