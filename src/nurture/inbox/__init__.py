"""Replies, auto-replies, bounce and complaint reports read from a mailbox
(``NURTURE_INBOX_URL``): sources.py reads it, classify.py says what each message is,
ingest.py records it, forward.py sends a person's reply on to the lead's owner."""
