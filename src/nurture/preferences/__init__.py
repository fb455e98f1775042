"""The lead's own choices about marketing mail, made on the preference page behind the
unsubscribe link: topics opted out of and a pause (``models``), saving them (``service``) and
the rule every dispatch pass applies to them (``gate``). Unsubscribing from everything stays
a suppression (tracking/unsubscribe.py)."""
