"""Alert rules configuration, the outbox, and delivery to Slack."""
