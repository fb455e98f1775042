"""Typed YAML config: errors name the file, the line and the field."""
