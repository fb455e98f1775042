"""Leads, their consent records and the append-only event log."""
