"""dealwatch, an event-sourced monitor of AI-industry consolidation.

The one import name the distribution installs. Its parts are subpackages whose folders stand at
the top of the repository, mapped by setup.py: `dealwatch.events` and `dealwatch.projections`
(the pure core), `dealwatch.sources` (pure source parsers), `dealwatch.services` and
`dealwatch.alerts` (the adapters)."""
