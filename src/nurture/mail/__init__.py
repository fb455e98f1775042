"""Mail: build RFC 5322 messages, and transports that send batches of them."""
