"""Event ids are RFC 4122 UUIDv5 of the record id: the fast path must be the standard one."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dealwatch.events.envelope import _NAMESPACE, event_id_for


@given(st.text())
def test_event_id_is_the_standard_uuid5_of_the_record_id(record_id: str) -> None:
    try:
        expected = str(uuid.uuid5(_NAMESPACE, record_id))
    except UnicodeEncodeError:  # a lone surrogate: no id either way
        with pytest.raises(UnicodeEncodeError):
            event_id_for(record_id)
        return
    assert event_id_for(record_id) == expected


def test_ids_of_logged_events_never_change() -> None:
    """Re-ingesting a record must give the id already in the log (computed by uuid.uuid5)."""
    assert event_id_for("msft-inflection-2024") == "9671ed69-d63f-5b28-8907-04a9b98445f4"
