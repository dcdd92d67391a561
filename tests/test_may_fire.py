"""`may_fire` decides which changed records the fold queues for the alert pass: it must hold
for every record a per-record rule fires for, whatever the registry says."""

from __future__ import annotations

from dealwatch.events.records import Correction, parse_record
from dealwatch.projections.rules import may_fire, record_alerts
from dealwatch.projections.thresholds import Thresholds
from tests.seed import seed_events, seed_roles
from tests.synthetic import synthetic_records


def _records():
    seed = [e.event.record for e in seed_events()]
    synthetic = [parse_record(r) for r in synthetic_records(3_000, 300)]
    return [r for r in seed + synthetic if not isinstance(r, Correction)]


def test_every_record_that_fires_may_fire() -> None:
    records = _records()
    parties = ("company", "licensee", "acquirer")
    everyone_incumbent = {
        getattr(r, f): "incumbent" for r in records for f in parties if getattr(r, f, None)
    }
    t = Thresholds()
    for roles in (seed_roles(), everyone_incumbent, {}):
        fired = record_alerts(records, {r.id: () for r in records}, roles, t)
        assert fired, "no record fires: the check below would prove nothing"
        ids = {a.alert_key.rsplit(":", 1)[1] for a in fired}
        missed = [r.id for r in records if r.id in ids and not may_fire(r, t)]
        assert not missed, f"fired but not queued: {missed[:5]}"


def test_a_record_no_rule_can_fire_for_is_not_queued() -> None:
    small = parse_record(
        {"id": "r", "kind": "funding", "date": "2024-01-01", "company": "a", "amount_usd": 5e6}
    )
    assert not may_fire(small, Thresholds())
    assert may_fire(small, Thresholds(mega_round_usd=1e6))
    assert not may_fire(small, Thresholds(mega_round_usd=1e6, enabled=frozenset()))
