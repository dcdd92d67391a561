"""Command groups of the `dealwatch` CLI, one module per concept."""
