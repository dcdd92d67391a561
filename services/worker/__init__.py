"""The Faust worker: its app and agents, start-up waits, group commits, consumer offsets and the
caught-up check."""
