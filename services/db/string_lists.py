"""A list of identifiers as the JSON text the tables hold (`lineage`, `counterparties`).

The text must stay byte for byte what `json.dumps` writes (`["a", "b"]`): `replay --verify`
and the audit export compare it with what `project()`'s rows give. `json.dumps` cost ~3 us
a list, a third of a backlog batch's prepared folds (py-spy, bench/fold_phases.py); event
ids and company slugs need no escaping, so joining them is the same text. Anything else
(a character JSON would escape) goes through `json.dumps`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

_PLAIN = re.compile(r"[A-Za-z0-9._:-]*")
"""Characters that `json.dumps` writes as they are: event ids (UUIDs) and slugs."""


def string_list(items: Iterable[str]) -> str:
    """`json.dumps(list(items))`, without its cost for plain identifiers."""
    items = list(items)
    if not items:
        return "[]"
    if all(type(i) is str for i in items) and _PLAIN.fullmatch("".join(items)):
        return '["' + '", "'.join(items) + '"]'
    return json.dumps(items)
