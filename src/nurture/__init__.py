"""nurture: lead-nurture sequences as code, run as Prefect flows."""

__version__ = "0.1.0"
