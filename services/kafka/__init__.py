"""Kafka at the edge: the local broker (`dealwatch kafka`), clients, topics, the log reader and
the idempotent producer. Broker assets (pom.xml, server.properties) live beside them."""
