"""Reporting: what happened (dispatch summaries; funnel metrics)."""
