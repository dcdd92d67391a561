"""Audits: prove that what users read (tables, alerts, the log itself) is what the log implies.

- `tables`: every projection table compared with a replay, by checksum then row by row;
- `rebuild`: the projections rebuilt from the log into a fresh database, like the worker;
- `chain`: the per-partition hash chain of the log checked against what the worker recorded;
- `alerts`: the alerts the log implies against the outbox;
- `export`: the effective log with positions and chain heads, for an external auditor.
"""
