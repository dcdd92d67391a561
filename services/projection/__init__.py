"""The incremental projection (adapters): each mirrored batch folds only the records and
companies it touches, in the worker that owns their partitions; one short merge turns the
queued per-day changes into series rows; alerts are derived for what changed. The pure
`projections.project()` stays the specification (tests/test_incremental.py)."""
