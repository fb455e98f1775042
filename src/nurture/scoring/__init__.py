"""Lead scoring: fit and engagement rules from config/scoring.yaml, set-based in SQL."""
