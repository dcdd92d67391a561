"""Pure projections of the event log (spec sections 2-5): no Kafka, SQL or Slack imports."""
