"""Pure source parsers (bytes in, feed records, review items or rejects out) and the matching
of source names to the registry (docs/sources.md). No HTTP, Kafka or SQL:
fetching, checkpoints and scheduling are adapters in `services/sources/`."""
