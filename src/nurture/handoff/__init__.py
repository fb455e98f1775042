"""Hand-off to sales: promote qualified leads, route them to reps, notify, and follow up."""
