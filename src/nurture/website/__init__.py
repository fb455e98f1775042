"""The website's behaviour: POST /api/track (Segment-spec identify, track and page calls) and
GET /t.js (the first-party snippet that sends page views)."""
