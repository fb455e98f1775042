"""Tracking: what leads do with our emails (unsubscribe; opens and clicks)."""
