"""``nurture plan``: what a config change does to the leads in flight, before it is live."""
