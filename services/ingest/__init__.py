"""Ingest: records validated, deduplicated by digest and produced to the log."""
