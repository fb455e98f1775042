"""The contact policy across sequences (config/policy.yaml, docs/lifecycle.md): quiet days,
the cap in a rolling window, the next allowed slot, and the gate the dispatcher applies to
the touches it claimed (``gate.hold_back``)."""
