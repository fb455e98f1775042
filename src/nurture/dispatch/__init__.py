"""Dispatch: claim due touches, render, send, record. See docs/delivery.md."""
