"""Website visitors: page views and track calls of anonymous browsers (the ``nurture_aid``
cookie), kept for a while, and joined to a lead exactly once when the visitor becomes known."""
