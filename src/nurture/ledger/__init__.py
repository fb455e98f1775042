"""The ledger: where every lead stands in every sequence (enrollments) and every touch it is due
or was sent (sends), with the claims dispatchers take on touches. The only writer of both tables:
capture, dispatch, tracking and the hand-off enrol, advance and end through it."""
