"""Sequences: their config, schedules (delays, send windows) and enrollments."""
