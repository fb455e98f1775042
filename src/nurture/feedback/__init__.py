"""Feedback from the mail system after delivery: bounces and complaints, whether a provider's
webhook (mailevents/) or the inbox (inbox/) reports them."""
