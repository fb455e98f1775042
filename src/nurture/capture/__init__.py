"""Capture: hosted landing pages and form posts that create leads and enrol them."""
