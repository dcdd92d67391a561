"""Adapters at the edge: Kafka, SQL, scheduler and the `dealwatch` CLI."""
