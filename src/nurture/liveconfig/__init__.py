"""The config the running system applies: the last one that validated, recorded as a
snapshot with its hash (docs/operations.md#config-changes)."""
