"""The ledger: where every lead stands in every sequence (enrollments) and every touch it is due
or was sent (sends), with the claims dispatchers take on touches. Capture, dispatch, tracking and
the hand-off enrol, claim, skip, advance and end through it; a dispatch pass records its SMTP
replies on the touches it holds (dispatch/record.py)."""
