"""After the sale: the one-click satisfaction score (``/n/``) and referral links (``/ref/``)."""
