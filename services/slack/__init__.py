"""The Slack desk: `dealwatch slack`, a Bolt app over Socket Mode (docs/slack.md)."""
