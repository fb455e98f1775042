"""Reporting: what happened (dispatch summaries; the funnel report and one lead's profile, as
typed models whose JSON Schemas are published in docs/schemas/)."""
