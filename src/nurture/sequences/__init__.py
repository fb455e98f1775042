"""Sequences: what their config means over time: delays, send windows and step conditions
(the config itself is in config/sequences.py; enrollments and sends are in ledger/)."""
