"""Bounces and complaints reported by email providers (Amazon SES through SNS, Postmark,
SendGrid, Mailgun, and a generic JSON shape): ``POST /api/mail-events/{provider}``.

Each provider's module checks the signature or credential, then reads the payload into
``Notice``s (a replay key and the ``feedback.service.Feedback`` items it carries), without
the database (SNS's certificate fetch is injected); routes.py claims the keys and applies
the feedback in one transaction.
"""
