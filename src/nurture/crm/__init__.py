"""The CRM side: later lifecycle stages and deal values reported back by sales tools."""
