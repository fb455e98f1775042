"""Languages: a lead's locale, its fallback chain, text per locale (docs/config.md#languages)."""
