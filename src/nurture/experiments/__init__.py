"""Experiments: a step's variants, who gets which, the statistics and the winner
(docs/experiments.md)."""
