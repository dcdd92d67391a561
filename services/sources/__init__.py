"""Producers that watch public sources: configuration, polite HTTP, checkpoints and the review
queue in SQL, one poll at a time or on a schedule (docs/sources.md)."""
