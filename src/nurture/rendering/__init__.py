"""Rendering: Jinja templates to subject, HTML and text, in a sandbox with autoescaping."""
