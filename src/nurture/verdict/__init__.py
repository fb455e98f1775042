"""Human or machine: the verdict on each open and click (docs/signals.md says why each
signal means what it means).

Two kinds of signal. What one request shows is judged when it arrives (``machines.py``): a
HEAD request, a scanner's or image proxy's user agent or network, a generic bot. What only
several requests show is judged over the send's recent events (``bursts.py``), right after
each batch of hits is written and again before each scoring pass: the hidden link (no person
can see it, so whoever fetched it fetched everything), and several links of one message
fetched within seconds. A fetch within seconds of delivery is judged in SQL as the hit is
written, against the send's ``sent_at`` (tracking/engagement.py). Machine events are kept with
their reason; scoring, conditions, goals and the report count a person's by default.
"""
