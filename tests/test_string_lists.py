"""Identifier lists as the tables hold them (services/db/string_lists.py): the same text as
`json.dumps`, which `replay --verify` compares, for any strings at all."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dealwatch.events.envelope import event_id_for
from dealwatch.services.db.string_lists import string_list


@given(st.lists(st.text()))
def test_any_strings_give_json_dumps_text(items: list[str]) -> None:
    assert string_list(items) == json.dumps(items)


@given(st.lists(st.from_regex(r"[a-z0-9][a-z0-9._-]*", fullmatch=True)))
def test_slugs_and_event_ids_give_json_dumps_text(slugs: list[str]) -> None:
    items = slugs + [event_id_for(s) for s in slugs]
    assert string_list(iter(items)) == json.dumps(items)


def test_escaped_characters_are_escaped() -> None:
    assert string_list(['a"b', "é", "a\\b"]) == '["a\\"b", "\\u00e9", "a\\\\b"]'
