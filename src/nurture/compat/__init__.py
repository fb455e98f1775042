"""Where we use a library's private parts, one module per library, each with the reason (CPU per
message, measured) and a test in tests/compat/ that fails loudly if the library changes under us.
pyproject.toml pins each of these libraries to its major version; nothing else in nurture
touches those parts."""
