"""Journeys beyond forms: sequences a stage, an event, inactivity or a date starts (triggers),
the goals that end them (goals), and the sunset after a re-engagement sequence (sunset).
The rules are in docs/lifecycle.md."""
