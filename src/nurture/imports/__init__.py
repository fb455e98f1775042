"""Leads from CSV files (`nurture leads import`): reading a file as marketers have them
(`reader`: encoding and delimiter detected), columns to lead fields and each row checked
(`mapping`), writing the valid rows set-based without ever touching consent, suppressions or a
later stage (`service`), and the double opt-in emails for those without a consent basis
(`confirm`). See docs/lifecycle.md (Imports)."""
